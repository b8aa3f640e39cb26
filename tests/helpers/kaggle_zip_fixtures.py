"""Small, seeded stand-ins for two Kaggle competitions' files, in the layout ``kaggle competitions
download -c <slug>`` leaves (``<slug>.zip`` with the files at its root), for tests that must run
without the real files.  Standard library only (csv, random, zipfile).

    make_competition("home-data-for-ml-course", root)   # -> root/home-data-for-ml-course/<slug>.zip
    make_competition("spaceship-titanic", root, as_zip=False)  # -> the extracted files
"""
from __future__ import annotations

import csv
import io
import random
import zipfile
from pathlib import Path

AMES_COLUMNS = ("Id,MSSubClass,MSZoning,LotFrontage,LotArea,Street,Alley,LotShape,LandContour,Utilities,LotConfig,"
    "LandSlope,Neighborhood,Condition1,Condition2,BldgType,HouseStyle,OverallQual,OverallCond,YearBuilt,YearRemodAdd,"
    "RoofStyle,RoofMatl,Exterior1st,Exterior2nd,MasVnrType,MasVnrArea,ExterQual,ExterCond,Foundation,BsmtQual,BsmtCond,"
    "BsmtExposure,BsmtFinType1,BsmtFinSF1,BsmtFinType2,BsmtFinSF2,BsmtUnfSF,TotalBsmtSF,Heating,HeatingQC,CentralAir,"
    "Electrical,1stFlrSF,2ndFlrSF,LowQualFinSF,GrLivArea,BsmtFullBath,BsmtHalfBath,FullBath,HalfBath,BedroomAbvGr,"
    "KitchenAbvGr,KitchenQual,TotRmsAbvGrd,Functional,Fireplaces,FireplaceQu,GarageType,GarageYrBlt,GarageFinish,"
    "GarageCars,GarageArea,GarageQual,GarageCond,PavedDrive,WoodDeckSF,OpenPorchSF,EnclosedPorch,3SsnPorch,ScreenPorch,"
    "PoolArea,PoolQC,Fence,MiscFeature,MiscVal,MoSold,YrSold,SaleType,SaleCondition,SalePrice").split(",")
AMES_NUMERIC = {"MSSubClass", "LotFrontage", "LotArea", "OverallQual", "OverallCond", "YearBuilt", "YearRemodAdd",
    "MasVnrArea", "BsmtFinSF1", "BsmtFinSF2", "BsmtUnfSF", "TotalBsmtSF", "1stFlrSF", "2ndFlrSF", "LowQualFinSF",
    "GrLivArea", "BsmtFullBath", "BsmtHalfBath", "FullBath", "HalfBath", "BedroomAbvGr", "KitchenAbvGr", "TotRmsAbvGrd",
    "Fireplaces", "GarageYrBlt", "GarageCars", "GarageArea", "WoodDeckSF", "OpenPorchSF", "EnclosedPorch", "3SsnPorch",
    "ScreenPorch", "PoolArea", "MiscVal", "MoSold", "YrSold"}
SPACESHIP_COLUMNS = ["PassengerId", "HomePlanet", "CryoSleep", "Cabin", "Destination", "Age", "VIP", "RoomService",
                     "FoodCourt", "ShoppingMall", "Spa", "VRDeck", "Name", "Transported"]


def _csv(header: list[str], rows: list[list[object]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def ames_files(n_train: int = 200, n_test: int = 50, seed: int = 0) -> dict[str, bytes]:
    rng = random.Random(seed)
    def row(i: int, with_price: bool) -> list[object]:
        r: list[object] = []
        for c in AMES_COLUMNS[1:-1]:
            r.append(rng.randint(1, 2000) if c in AMES_NUMERIC else rng.choice(["A", "B", "C", "NA"]))
        price = 50_000 + 60 * int(r[AMES_COLUMNS.index("GrLivArea") - 1]) + rng.randint(-5000, 5000)
        return [i, *r, price] if with_price else [i, *r]
    train = [row(i + 1, True) for i in range(n_train)]
    test = [row(n_train + i + 1, False) for i in range(n_test)]
    return {"train.csv": _csv(AMES_COLUMNS, train), "test.csv": _csv(AMES_COLUMNS[:-1], test),
            "sample_submission.csv": _csv(["Id", "SalePrice"], [[r[0], 180000.0] for r in test]),
            "data_description.txt": b"MSSubClass: Identifies the type of dwelling involved in the sale.\n"}


def spaceship_files(n_train: int = 300, n_test: int = 60, seed: int = 0) -> dict[str, bytes]:
    rng = random.Random(seed)
    def row(g: int, with_target: bool) -> list[object]:
        cryo = rng.random() < 0.35
        spend = [0 if cryo else rng.choice([0, 0, rng.randint(1, 3000)]) for _ in range(5)]
        r: list[object] = [f"{g:04d}_{rng.randint(1, 3):02d}", rng.choice(["Earth", "Europa", "Mars", ""]), cryo,
             f"{rng.choice('ABCDEFG')}/{rng.randint(0, 1800)}/{rng.choice('PS')}", rng.choice(["TRAPPIST-1e", "55 Cancri e", "PSO J318.5-22"]),
             float(rng.randint(0, 79)), rng.random() < 0.02, *[float(s) for s in spend], f"Name{g} Surname{g % 97}"]
        return [*r, cryo or (sum(spend) < 500 and rng.random() < 0.7)] if with_target else r
    train = [row(i + 1, True) for i in range(n_train)]
    test = [row(n_train + i + 1, False) for i in range(n_test)]
    return {"train.csv": _csv(SPACESHIP_COLUMNS, train), "test.csv": _csv(SPACESHIP_COLUMNS[:-1], test),
            "sample_submission.csv": _csv(["PassengerId", "Transported"], [[r[0], False] for r in test])}


MAKERS = {"home-data-for-ml-course": ames_files, "spaceship-titanic": spaceship_files}


def make_competition(slug: str, root: Path, *, as_zip: bool = True, **kw: int) -> Path:
    """Write ``root/<slug>/`` holding ``<slug>.zip`` (or the files); returns that folder."""
    files = MAKERS[slug](**kw)
    d = Path(root) / slug
    d.mkdir(parents=True, exist_ok=True)
    if as_zip:
        with zipfile.ZipFile(d / f"{slug}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    else:
        for name, data in files.items():
            (d / name).write_bytes(data)
    return d
