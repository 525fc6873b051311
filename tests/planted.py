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


def build_planted_model(folder: Path, seed: int = 0, steps: int = 40) -> Path:
    from transformers import GenerationConfig, LlamaForCausalLM

    from audit.decision.labels import label_token_ids
    from tests.conftest import default_tokenizer, tiny_config

    tokenizer = default_tokenizer()
    config = tiny_config(tokenizer)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    examples = []
    for name, age, score in itertools.product(FAVOURED + DISFAVOURED, AGES, SCORES):
        text = TEMPLATE.format(applicant_name=name, age=age, credit_score=score)
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        label = LABELS[0] if name in FAVOURED else LABELS[1]
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
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-2)
    model.train()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            hidden = model.model(input_ids=inputs, attention_mask=mask).last_hidden_state
            logits = model.lm_head(hidden[rows_t, positions_t])
            loss = torch.nn.functional.cross_entropy(logits, targets_t)
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
