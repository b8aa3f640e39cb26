"""Prepare spaceship-titanic: a seeded 20% hold-out of Kaggle's train.csv by travel group (see mlgym.kaggle).

    python prepare.py --raw RAW --public PUB --private PRIV

PassengerId is gggg_pp: a travel group stays on one side of the split, as on Kaggle.
"""

from mlgym.kaggle import Competition, main

COMPETITION = Competition("spaceship-titanic", id_col="PassengerId", target="Transported", group_by_prefix=True)

if __name__ == "__main__":
    main(COMPETITION, __file__)
