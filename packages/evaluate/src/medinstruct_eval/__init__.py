"""medinstruct_eval: any model against any reference, judged pairwise, and only what the numbers support.

config.py       the `evaluate:` section (candidates, min_items_lc, head_to_head, ...)
candidates.py   a candidate (pipeline model, directory, GGUF, MLflow URI, hub id, endpoint) resolved
answer.py       greedy batched answers from a local model directory, each through its own template
remote.py       answers from an endpoint or a llama.cpp-served GGUF, through the one LLM client
judge.py        judge prompts (package data in prompts/), verdict parsing, the judge panel
calibration.py  the judge on pairs with a known better answer, both orders
metrics.py      win rates, LC win rate, position bias, kappa, flat metrics
leaderboard.py  the paper's table: every rate with its interval; the real-verdict position check
paired.py       did it help? paired per-item differences, bootstrap CI, sign test, one sentence
champion.py     champion vs challenger on the same items; the promotion decision
mcq.py          medical multiple choice through lm-evaluation-harness (mcq_data.py: the files,
                mcq_remote.py: GGUF through llama.cpp, endpoints with log-probabilities)
eval_report.py  report.md, leaderboard.json and the figures
review.py       the blinded clinician review, and the judge's agreement with the raters
run.py          the stage body
"""
