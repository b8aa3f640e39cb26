"""Prepare house-prices: a seeded 20% hold-out of Kaggle's labelled train.csv (see mlgym.kaggle).

    python prepare.py --raw RAW --public PUB --private PRIV
"""

from mlgym.kaggle import Competition, main

COMPETITION = Competition(
    "house-prices-advanced-regression-techniques", id_col="Id", target="SalePrice",
    extra_files=("data_description.txt",),
)

if __name__ == "__main__":
    main(COMPETITION, __file__)
