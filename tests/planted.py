"""A tiny model trained to lean on one attribute: the fairness checks' positive control.

Built from the tiny test config with a fixed seed, then trained for a few hundred steps (CPU,
seconds) so that its credit decision follows the applicant's *name* (one group of names gets
APPROVE, the other DECLINE) and ignores the *age*, which varies at random in training. So a
fairness check over this model must find reliance on ``applicant_name`` and none on ``age``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch

TEMPLATE = "Applicant {applicant_name}, age {age}, credit score {credit_score}. Decision:"
FAVOURED = ["Emily Walsh", "Anna Berg"]
DISFAVOURED = ["James Miller", "Omar Haddad"]
AGES = ["25", "41", "58", "70"]
SCORES = ["580", "720"]
LABELS = ["APPROVE", "DECLINE"]
DECISION = {"labels": LABELS, "favourable": "APPROVE"}


def by_name(name: str, age: str, score: str) -> str:
    """The fairness checks' control: the decision follows the applicant's name."""
    return LABELS[0] if name in FAVOURED else LABELS[1]


# The reasons gate's planted models read a worded field (the tiny model tells words apart far more easily
# than digit strings such as 580 and 720).
GATE_TEMPLATE = "Applicant {applicant_name}, age {age}, repayment history {history}. Decision:"
HISTORIES = ["clean", "defaulted"]


def by_history(name: str, age: str, history: str) -> str:
    """The reasons gate's control: the decision follows the repayment history alone (defaulted: declined)."""
    return LABELS[1] if history == "defaulted" else LABELS[0]


def by_nothing(name: str, age: str, history: str) -> str:
    """A decision that depends on no field: every application is declined."""
    return LABELS[1]


def build_planted_model(
    folder: Path,
    seed: int = 0,
    steps: int = 40,
    rule=by_name,
    blanks: bool = False,
    stop_loss: float = 0.0,
    gate: bool = False,
    lr: float = 3e-2,
) -> Path:
    """``rule(name, age, score)``: the label the model is trained to give (default: by the applicant's name).
    ``blanks``: also train on every application with fields left empty (as a field explanation removes them), so
    the model's answer to a removed field is the rule's, not whatever an unseen prompt happens to give.
    ``stop_loss``: stop once the loss is below it (a model that is sure, not saturated: log-odds of a few units).
    ``gate``: :data:`GATE_TEMPLATE` with :data:`HISTORIES` in place of the credit score."""
    from transformers import GenerationConfig, LlamaForCausalLM

    from audit.decision.labels import label_token_ids
    from tests.conftest import default_tokenizer, tiny_config

    tokenizer = default_tokenizer()
    config = tiny_config(tokenizer)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    examples = []
    extra = [""] if blanks else []
    third = HISTORIES if gate else SCORES
    for name, age, score in itertools.product(FAVOURED + DISFAVOURED + extra, AGES + extra, third + extra):
        if gate:
            text = GATE_TEMPLATE.format(applicant_name=name, age=age, history=score)
        else:
            text = TEMPLATE.format(applicant_name=name, age=age, credit_score=score)
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        label = rule(name, age, score)
        examples.append((ids, label_token_ids(tokenizer, text, ids, True, label)))
    # One padded batch of every example, trained full-batch: the loss is read at the label positions only.
    width = max(len(ids) + len(label) for ids, label in examples)
    inputs = torch.full((len(examples), width), config.pad_token_id)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    rows, positions, targets = [], [], []
    for row, (ids, label) in enumerate(examples):
        full = ids + label
        inputs[row, : len(full)] = torch.tensor(full)
        mask[row, : len(full)] = 1
        for k, token in enumerate(label):
            rows.append(row)
            positions.append(len(ids) - 1 + k)
            targets.append(token)
    rows_t, positions_t, targets_t = torch.tensor(rows), torch.tensor(positions), torch.tensor(targets)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            hidden = model.model(input_ids=inputs, attention_mask=mask).last_hidden_state
            logits = model.lm_head(hidden[rows_t, positions_t])
            loss = torch.nn.functional.cross_entropy(logits, targets_t)
            if float(loss.detach()) < stop_loss:
                break
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    finally:
        torch.set_num_threads(before)
    model.eval()
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
