"""MLAgentBench-layout task folders built at test time (no copy of MLAgentBench needed).

Each mimics a real folder's shape (snap-stanford/MLAgentBench @5d71205): env/, scripts/
{prepare.py, eval.py (get_score(submission_folder)), research_problem.txt, read_only_files.txt}.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

KAGGLE_PREPARE = '''\
import subprocess
import pandas as pd
taskname = "{slug}"
download_dir = "../env"
input(f"Consent to the competition at https://www.kaggle.com/competitions/{{taskname}}/data; Press any key")
subprocess.run(["kaggle", "competitions", "download", "-c", taskname], cwd=download_dir)
subprocess.run(["unzip", "-n", f"{{taskname}}.zip"], cwd=download_dir)
subprocess.run(["rm", f"{{taskname}}.zip"], cwd=download_dir)
trainset = pd.read_csv(f"{{download_dir}}/train.csv").reset_index(drop=True)
trainset.iloc[:int(len(trainset)*0.8)].to_csv(f"{{download_dir}}/train.csv", index=False)
testset = trainset.iloc[int(len(trainset)*0.8):]
testset.drop(list(trainset.keys())[1:-1], axis=1).to_csv("./answer.csv", index=False)
testset.drop(["{target}"], axis=1).to_csv(f"{{download_dir}}/test.csv", index=False)
'''
CSV_EVAL = '''\
import os
import pandas as pd
def get_score(submission_folder="../env"):
    submission = pd.read_csv(os.path.join(submission_folder, "submission.csv"))
    answer = pd.read_csv(os.path.join(os.path.dirname(__file__), "answer.csv"))
    return {expr}
if __name__ == "__main__":
    print(get_score())
'''


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


def kaggle_task(bench: Path, name: str = "house-price", slug: str = "home-data-for-ml-course",
                target: str = "SalePrice", starter_finished: bool = False) -> Path:
    """A Kaggle task like house-price: consent input(), kaggle download, unzip, 80/20 split, MAE eval."""
    starter = ("import pandas as pd\ntr = pd.read_csv('train.csv'); te = pd.read_csv('test.csv')\n"
               f"pd.DataFrame({{'{'Id' if target == 'SalePrice' else 'PassengerId'}': te.iloc[:, 0], "
               f"'{target}': tr['{target}'].median() if '{target}' == 'SalePrice' else True}}).to_csv('submission.csv', index=False)\n"
               if starter_finished else "import pandas as pd\n# TODO: train a model\nprint('Train MAE: {:,.0f}'.format(train_mae))\n")
    expr = (f"sum(abs(submission['{target}'] - answer['{target}']))/len(answer['{target}'])" if target == "SalePrice"
            else f"(submission['{target}'] == answer['{target}']).sum() / len(submission)")
    return _write(bench / name, {
        "env/train.py": starter, "env/data_description.txt": "the columns\n",
        "scripts/prepare.py": KAGGLE_PREPARE.format(slug=slug, target=target),
        "scripts/eval.py": CSV_EVAL.format(expr=expr),
        "scripts/research_problem.txt": f"Predict {target}. Fill in train.py.",
        "scripts/read_only_files.txt": "./train.csv\n./test.csv",
    })


def checkpoint_task(bench: Path, name: str = "clrs-like") -> Path:
    """Scored from a folder (CLRS: checkpoints/, babylm: output/), no submission.csv."""
    return _write(bench / name, {
        "env/train.py": "import os, pickle\nos.makedirs('checkpoints', exist_ok=True)\n"
                        "pickle.dump({'w': 0.75}, open('checkpoints/best.pkl', 'wb'))\n",
        "scripts/eval.py": "import os, pickle\ndef get_score(submission_folder):\n"
                           "    return pickle.load(open(os.path.join(submission_folder, 'checkpoints', 'best.pkl'), 'rb'))['w']\n",
        "scripts/research_problem.txt": "Improve the model; the checkpoint in checkpoints/ is scored.",
    })


def package_task(bench: Path, name: str = "needs-pkg", package: str = "mlgym_surely_absent_pkg") -> Path:
    """An eval importing a package beyond the default environment (like spaceship-titanic's `datasets`)."""
    return _write(bench / name, {
        "env/train.py": "open('submission.csv', 'w').write('x\\n1\\n')\n",
        "scripts/eval.py": f"import {package}\ndef get_score(submission_folder='../env'):\n    return 1.0\n",
        "scripts/research_problem.txt": "Anything.",
    })


def unscored_task(bench: Path, name: str = "speed-like") -> Path:
    """No scripts/eval.py (llama-inference): scored by a script's printed speed."""
    return _write(bench / name, {
        "env/inference.py": "import time\nt = time.time(); sum(range(10**5))\n"
                            "print('Average per token generation time: ', (time.time() - t) / 100)\n",
        "scripts/research_problem.txt": "Make inference.py faster.",
    })


def tasks_json(bench: Path, aliases: dict[str, dict[str, str]]) -> Path:
    (bench / "tasks.json").write_text(json.dumps(aliases, indent=4))
    return bench / "tasks.json"
