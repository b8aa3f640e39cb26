"""A user's AutoGluon-Bench custom dataloader (its contract: ``Cls(dataset_name=..., split=s, **kwargs)``,
then ``.data``, ``.problem_type``, ``.metric``, ``.feature_columns``, ``.label_columns``).

It turns Kaggle's "House Prices" table (the Ames, Iowa sales) into a multimodal dataset:

* ``listing``: a text written from the house's coded columns with the real wording of the
  competition's data_description.txt (neighbourhood, zoning, dwelling, style, exterior, ...);
* ``inspection_scan``: a picture of the house's overall quality grade (1-10) as a
  handwritten digit (grade - 1), a real scan from scikit-learn's bundled digits;
* ``LotArea``, ``GrLivArea``, ``YearBuilt``, ``TotalBsmtSF``, ``GarageCars``, ``FullBath``: numbers;
* ``SalePrice``: the label.

Where the Kaggle files are: the dataset config's ``url`` (a folder, relative to that file),
or ``$HOUSE_PRICES_DIR``.  The images are written once under ``$XDG_CACHE_HOME`` (or
``~/.cache``) ``/house_prices_mm/`` and named by absolute path.  Splits: train and test (a
seeded 80/20 cut of Kaggle's labelled rows); there is no validation split (``.data`` is None).
"""

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

TEXT_COLUMNS = {"Neighborhood": "Neighborhood", "MSZoning": "Zoning", "BldgType": "Dwelling", "HouseStyle": "Style",
                "Exterior1st": "Exterior", "Foundation": "Foundation", "KitchenQual": "Kitchen", "SaleCondition": "Sale"}
NUMBERS = ["LotArea", "GrLivArea", "YearBuilt", "TotalBsmtSF", "GarageCars", "FullBath"]


def code_names(description: Path) -> dict:
    """{column: {code: wording}} from data_description.txt."""
    out, current = {}, None
    for line in description.read_text(encoding="latin-1").splitlines():
        head = re.match(r"^(\w+):\s", line)
        if head:
            current = out.setdefault(head.group(1), {})
        elif current is not None and "\t" in line.strip("\n"):
            code, _, words = line.strip().partition("\t")
            if code and words.strip():
                current[code.strip()] = words.strip()
    return out


class HousePricesLoader:
    def __init__(self, dataset_name, split="train", dataset_config_file=None, **kwargs):
        with open(dataset_config_file) as f:
            self.config = yaml.safe_load(f)[dataset_name]
        self.name, self.split = dataset_name, split
        if split not in self.config["splits"]:
            self.data = None
            return
        where = os.environ.get("HOUSE_PRICES_DIR") or str(Path(dataset_config_file).parent / self.config["url"])
        table = pd.read_csv(Path(where) / "train.csv")
        names = code_names(Path(where) / "data_description.txt")
        names["Neighborhood"]["NAmes"] = names["Neighborhood"].get("Names", "North Ames")  # the file spells it "Names"
        rng = np.random.default_rng(7)
        test = rng.permutation(len(table))[: len(table) // 5]
        mask = np.zeros(len(table), bool)
        mask[test] = True
        rows = table[mask if split == "test" else ~mask].reset_index(drop=True)
        listing = rows.apply(lambda r: ". ".join(f"{label}: {names.get(col, {}).get(str(r[col]), str(r[col]))}"
                                                 for col, label in TEXT_COLUMNS.items()) + ".", axis=1)
        self.data = pd.DataFrame({"listing": listing, "inspection_scan": self._scans(rows), **{c: rows[c] for c in NUMBERS},
                                  "SalePrice": rows["SalePrice"].astype(float)})

    def _scans(self, rows):
        from PIL import Image
        from sklearn.datasets import load_digits

        home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "house_prices_mm" / "scans"
        home.mkdir(parents=True, exist_ok=True)
        digits = load_digits()
        paths = []
        for house, grade in zip(rows["Id"], rows["OverallQual"]):
            path = home / f"{house}.png"
            if not path.is_file():
                pool = np.flatnonzero(digits.target == int(grade) - 1)
                pixels = digits.data[pool[int(house) % len(pool)]].reshape(8, 8)
                grey = np.kron(np.clip(pixels * 15, 0, 255).astype(np.uint8), np.ones((4, 4), np.uint8))
                Image.fromarray(grey).save(path)
            paths.append(str(path))
        return paths

    @property
    def feature_columns(self):
        return ["listing", "inspection_scan", *NUMBERS]

    @property
    def label_columns(self):
        return ["SalePrice"]

    @property
    def image_columns(self):
        return ["inspection_scan"]

    @property
    def text_columns(self):
        return ["listing"]

    @property
    def problem_type(self):
        return self.config["problem_type"]

    @property
    def metric(self):
        return self.config["metric"]
