"""medinstruct_eval: answer held-out questions, judge them pairwise against references, win rates.

answer.py   greedy batched answers from a base or student model directory
judge.py    judge prompts (package data in prompts/), verdict parsing, the judge loop
metrics.py  win rates, position bias, bootstrap intervals
report.py   answers.jsonl rows and the MLflow eval table
"""
