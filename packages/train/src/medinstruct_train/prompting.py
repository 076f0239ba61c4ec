"""The Alpaca-style prompt that AlpaCare trains and evaluates with.

Training (`to_prompt_completion`) and evaluation (`format_prompt`, imported by
medinstruct_eval) must render the prompt byte for byte the same way, so both
live here and nowhere else.

The wording is the public Alpaca data format. One deliberate difference from
Stanford Alpaca's training script: the prompt ends with "### Response:\\n"
rather than "### Response:". With a byte-level BPE tokenizer (SmolLM2, Llama 3,
Qwen) the newline is its own token, so the tokenized prompt is an exact prefix
of the tokenized prompt + answer and the completion-only loss mask starts
exactly at the first answer token; without it the answer's first word could
merge with the colon and TRL would have to shift the boundary.
"""

from __future__ import annotations

from typing import Protocol

PROMPT_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides "
    "further context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)


class Instructed(Protocol):
    """Anything with an instruction, an input and an output (e.g. records.Example)."""

    instruction: str
    input: str
    output: str


def format_prompt(instruction: str, input: str = "") -> str:
    """Render the prompt; an empty (or whitespace-only) input selects the no-input variant."""
    instruction = instruction.strip()
    input = input.strip()
    if input:
        return PROMPT_WITH_INPUT.format(instruction=instruction, input=input)
    return PROMPT_NO_INPUT.format(instruction=instruction)


def to_prompt_completion(example: Instructed, eos_token: str) -> dict[str, str]:
    """One row of TRL's prompt-completion format: loss is computed on the completion only.

    The EOS token is appended here (TRL would add it too) so the model learns to
    stop, and so the rows are self-describing when inspected or logged.
    """
    if not eos_token:
        raise ValueError("eos_token must be a non-empty string (the tokenizer's EOS token)")
    output = example.output.strip()
    return {
        "prompt": format_prompt(example.instruction, example.input),
        "completion": output + eos_token,
    }
