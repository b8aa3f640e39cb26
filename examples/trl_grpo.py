"""TRL's GRPOTrainer (trl 1.16, the rl extra) trained on mlgym episodes through `rollout_func` (docs/rl.md).

CPU, a tiny random model built here (no download), about a minute:
    python examples/trl_grpo.py --task digits --steps 2 --out DIR
GPU, a real small model (only arguments change):
    python examples/trl_grpo.py --task digits --steps 50 --out DIR --model Qwen/Qwen2.5-0.5B-Instruct \
        --action-format text --turns 8 --max-new-tokens 256 --obs-tokens 512 --num-generations 8 --batch 8 --lr 1e-6
Envs on a Ray cluster's CPU nodes instead of threads here: add --ray HOST:PORT (mlgym.runs.envpool).

Per rollout: reset the task (same seed for the whole group of `num_generations` rollouts = a GRPO group);
for each turn the policy generates, the text becomes an mlgym action, the observation is appended to the
completion with env_mask 0 (not trained on, logprob 0); when the episode has not ended after `--turns`, it is
scored with env.finish("max_turns").  The reward is mlgym's (result["reward"] of the episode).
Action formats:
  text  the completion is a ReAct-style text action ("Action: Execute Script\nAction Input: {...}"),
        parsed by mlgym itself: what a real instruct model does;
  menu  (tiny-model demo) the completion's first token picks one of MENU's scripted plans; lets a random
        model get different rewards within a group, so the GRPO update is non-zero.
Writes DIR/rewards.jsonl (one line per scored rollout: step, seed, group, reward, the group's mean and the
rollout's advantage (mlgym.analysis.groups), score, reason, log_dir) and DIR/final/ (model + tokenizer).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from mlgym.analysis.groups import group_stats

BETTER = ("import pandas as pd\nfrom sklearn.svm import SVC\n"
          "tr = pd.read_csv('data/train.csv'); te = pd.read_csv('data/test.csv')\n"
          "m = SVC().fit(tr.drop(columns='label'), tr['label'])\n"
          "pd.DataFrame({'id': te['id'], 'label': m.predict(te.drop(columns='id'))}).to_csv('submission.csv', index=False)\n")
WORSE = ("import pandas as pd\nte = pd.read_csv('data/test.csv')\n"
         "pd.DataFrame({'id': te['id'], 'label': 0}).to_csv('submission.csv', index=False)\n")
FINAL = {"name": "Final Answer", "arguments": {"final_answer": "done"}}
MENU: list[list[dict[str, Any]]] = [
    [FINAL],  # no submission
    [{"name": "Execute Script", "arguments": {"script_name": "train.py"}}, FINAL],  # the baseline
    [{"name": "Write File", "arguments": {"file_name": "svm.py", "content": BETTER}},
     {"name": "Execute Script", "arguments": {"script_name": "svm.py"}}, FINAL],  # better than baseline
    [{"name": "Write File", "arguments": {"file_name": "zero.py", "content": WORSE}},
     {"name": "Execute Script", "arguments": {"script_name": "zero.py"}}, FINAL],  # worse
]


def tiny_tokenizer(corpus: list[str]) -> Any:
    """A byte-level BPE tokenizer trained here on the task text (offline, ~1 s)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=512, special_tokens=["<pad>", "<eos>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")


def tiny_model(vocab: int, pad_id: int, eos_id: int) -> Any:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      pad_token_id=pad_id, eos_token_id=eos_id, bos_token_id=eos_id, tie_word_embeddings=True)
    return Qwen2ForCausalLM(cfg)


class MLGymRollouts:
    """rollout_func for GRPOTrainer: runs mlgym episodes, returns token ids, logprobs, env_mask, rewards."""

    def __init__(self, task: str, root: Path, args: argparse.Namespace, pool: Any = None) -> None:
        self.task, self.root, self.a, self.envpool = task, root, args, pool
        self.count = itertools.count()
        self.lock = threading.Lock()
        self.rewards_path = Path(args.out) / "rewards.jsonl"
        self.pool = ThreadPoolExecutor(max_workers=args.env_workers)

    def make_env(self) -> Any:
        import mlgym

        with self.lock:
            k = next(self.count)
        log_dir = self.root / f"r{k:04d}"
        if self.envpool is not None:  # an actor on the Ray cluster
            env = self.envpool.make(task=self.task, log_dir=log_dir, work_dir=self.root / "ws")
        else:
            env = mlgym.make(self.task, log_dir=log_dir, work_dir=self.root / "ws")
        env.mlgym_log_dir = log_dir
        return env

    @torch.no_grad()
    def generate(self, trainer: Any, ids: list[int]) -> tuple[list[int], list[float]]:
        model = trainer.model
        inp = torch.tensor([ids[-self.a.max_prompt_tokens:]], device=model.device)
        out = model.generate(inp, attention_mask=torch.ones_like(inp), max_new_tokens=self.a.max_new_tokens,
                             do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                             output_scores=True, return_dict_in_generate=True,
                             pad_token_id=trainer.processing_class.pad_token_id)
        new = out.sequences[0, inp.shape[1]:].tolist()
        lps = [torch.log_softmax(s[0].float(), -1)[t].item() for s, t in zip(out.scores, new)]
        return new, lps

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        tok = trainer.processing_class
        # TRL's RepeatSampler already repeats each prompt num_generations times (consecutive entries), so
        # `prompts` holds one entry per rollout: each run of G entries is one GRPO group, reset from one seed.
        G = trainer.num_generations if trainer.model.training else trainer.num_generations_eval
        out: dict[str, list[Any]] = {"prompt_ids": [], "completion_ids": [], "logprobs": [], "env_mask": [],
                                     "mlgym_reward": []}
        for p_i in range(0, len(prompts), G):
            prompt = prompts[p_i]
            text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
            seed = trainer.state.global_step * len(prompts) + p_i  # one seed per group
            p_ids = tok(text)["input_ids"][-self.a.max_prompt_tokens:]
            envs = list(self.pool.map(lambda _: self.make_env(), range(G)))
            list(self.pool.map(lambda e: e.reset(seed=seed, options={"run_info": {"seed": seed, "group": p_i // G, "group_size": G}}), envs))
            comp: list[list[int]] = [[] for _ in range(G)]
            lps: list[list[float]] = [[] for _ in range(G)]
            mask: list[list[int]] = [[] for _ in range(G)]
            done = [False] * G
            rewards = [0.0] * G
            for turn in range(self.a.turns):
                plans = []
                for g in range(G):  # generation (sequential here; a real run batches it / uses vLLM)
                    if done[g]:
                        plans.append(None)
                        continue
                    new, lp = self.generate(trainer, p_ids + comp[g])
                    comp[g] += new
                    lps[g] += lp
                    mask[g] += [1] * len(new)
                    if self.a.action_format == "menu":
                        plans.append(MENU[new[0] % len(MENU)] if new else [FINAL])
                    else:
                        plans.append([tok.decode(new, skip_special_tokens=True)])

                def run(g: int) -> tuple[str, float, bool]:
                    obs, r, end = "", 0.0, False
                    for act in plans[g]:
                        obs, r, term, trunc, _ = envs[g].step(act)
                        end = term or trunc
                        if end:
                            break
                    return obs, r, end

                results = list(self.pool.map(lambda g: run(g) if plans[g] is not None else ("", 0.0, True), range(G)))
                for g, (obs, r, end) in enumerate(results):
                    if plans[g] is None:
                        continue
                    if end:
                        done[g], rewards[g] = True, r
                    elif turn + 1 < self.a.turns:  # the observation goes into the context, masked out of the loss
                        o_ids = tok("\nObservation: " + obs + "\n")["input_ids"][: self.a.obs_tokens]
                        comp[g] += o_ids
                        lps[g] += [0.0] * len(o_ids)
                        mask[g] += [0] * len(o_ids)
            for g in range(G):
                if not done[g]:
                    rewards[g] = float(envs[g].unwrapped.finish("max_turns"))
            stats, _ = group_stats([seed] * G, rewards)
            for g in range(G):
                res = envs[g].unwrapped.result or {}
                with self.lock, self.rewards_path.open("a") as f:
                    f.write(json.dumps({"step": trainer.state.global_step, "seed": seed, "group": p_i // G, "group_index": g,
                                        "reward": rewards[g], "group_mean": stats[g]["group_mean"],
                                        "advantage": stats[g]["advantage"], "score": res.get("score"),
                                        "reason": res.get("reason"), "log_dir": str(envs[g].mlgym_log_dir)}) + "\n")
                envs[g].close()
                if not comp[g]:  # TRL needs at least one completion token
                    comp[g], lps[g], mask[g] = [tok.eos_token_id], [0.0], [1]
                out["prompt_ids"].append(p_ids)
                out["completion_ids"].append(comp[g])
                out["logprobs"].append(lps[g])
                out["env_mask"].append(mask[g])
                out["mlgym_reward"].append(rewards[g])
        return out


def mlgym_reward(completions: list[Any], mlgym_reward: list[float], **kwargs: Any) -> list[float]:
    return list(mlgym_reward)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="digits")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default=None, help="a hub id or local path; default: a tiny random Qwen2 built here")
    ap.add_argument("--action-format", choices=["menu", "text"], default=None, help="default: menu for the tiny model, else text")
    ap.add_argument("--turns", type=int, default=1)
    ap.add_argument("--max-new-tokens", type=int, default=4)
    ap.add_argument("--max-prompt-tokens", type=int, default=1024)
    ap.add_argument("--obs-tokens", type=int, default=64)
    ap.add_argument("--num-generations", type=int, default=4)
    ap.add_argument("--batch", type=int, default=4, help="per-device train batch (rollouts); a multiple of num-generations")
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--env-workers", type=int, default=4)
    ap.add_argument("--ray", metavar="ADDRESS", default=None, help="run the envs on a Ray cluster (HOST:PORT, auto, local)")
    a = ap.parse_args(argv)
    a.action_format = a.action_format or ("menu" if a.model is None else "text")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rewards.jsonl").write_text("")

    import mlgym
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    root = Path(tempfile.mkdtemp(prefix="runs-", dir=out))
    probe = mlgym.make(a.task, log_dir=root / "probe", work_dir=root / "ws")
    task_text, _ = probe.reset(seed=0)
    probe.close()
    prompt = task_text + "\n\nRespond with one action:\nAction: <tool name>\nAction Input: <JSON>\n"
    if a.model is None:
        tok = tiny_tokenizer([task_text, prompt] + [json.dumps(m) for m in MENU])
        model = tiny_model(len(tok), tok.pad_token_id, tok.eos_token_id)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(a.model)
        model = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype="auto")
        if tok.chat_template:
            prompt = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    n_prompts = max(1, a.batch // a.num_generations)
    ds = Dataset.from_list([{"prompt": prompt} for _ in range(max(8, a.steps * n_prompts))])
    cfg = GRPOConfig(output_dir=str(out / "trainer"), max_steps=a.steps, per_device_train_batch_size=a.batch,
                     num_generations=a.num_generations, max_completion_length=a.turns * (a.max_new_tokens + a.obs_tokens),
                     learning_rate=a.lr, logging_steps=1, report_to=[], save_strategy="no",
                     use_cpu=not torch.cuda.is_available(), bf16=torch.cuda.is_available(), beta=0.0, seed=0)
    pool = None
    if a.ray:
        from mlgym.runs.envpool import EnvPool

        pool = EnvPool(None if a.ray == "local" else a.ray)
    trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=[mlgym_reward], args=cfg, train_dataset=ds,
                          rollout_func=MLGymRollouts(a.task, root, a, pool))
    t = time.time()
    try:
        trainer.train()
    finally:
        if pool is not None:
            pool.close()
    trainer.save_model(str(out / "final"))
    tok.save_pretrained(str(out / "final"))
    after = trainer.model.state_dict()
    delta = max((after[k].float().cpu() - v.float().cpu()).abs().max().item() for k, v in before.items())
    lines = [json.loads(x) for x in (out / "rewards.jsonl").read_text().splitlines()]
    print(json.dumps({"seconds": round(time.time() - t, 1), "rollouts": len(lines),
                      "rewards": [round(x["reward"], 4) for x in lines], "max_weight_change": delta}))


if __name__ == "__main__":
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is experimental in TRL 1.16
    main()
