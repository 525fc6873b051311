import pytest

from audit.errors import UserError
from audit.prompts import build_prompt, full_template, template_fields


def test_text_prompt_is_tokenised_exactly_as_given(tiny_loaded):
    tok = tiny_loaded.tokenizer
    prepared = build_prompt(tok, prompt="The capital of France is")
    assert prepared.kind == "text"
    assert prepared.input_ids == tok("The capital of France is")["input_ids"]
    assert prepared.text == "The capital of France is"


def test_template_with_system_uses_chat_template_and_full_template_round_trips(tiny_loaded):
    tok = tiny_loaded.tokenizer
    template = "Income {income}; score {score}. Literal {{braces}}. Approve?"
    variables = {"income": "$42,000", "score": 580}
    prepared = build_prompt(tok, template=template, variables=variables, system="You are {not a field} an analyst.")
    assert prepared.kind == "template"
    assert prepared.text.startswith("<|im_start|>system\nYou are {not a field} an analyst.<|im_end|>")
    assert "Income $42,000; score 580. Literal {braces}. Approve?" in prepared.text
    assert prepared.text.endswith("<|im_start|>assistant\n")
    assert prepared.messages[-1] == {"role": "user", "content": "Income $42,000; score 580. Literal {braces}. Approve?"}
    whole = full_template(tok, template, "You are {not a field} an analyst.", chat=True)
    assert whole.format(**variables) == prepared.text
    assert template_fields(whole) == ["income", "score"]
    assert prepared.input_ids == tok(prepared.text, add_special_tokens=False)["input_ids"]


def test_messages_apply_chat_template(tiny_loaded):
    tok = tiny_loaded.tokenizer
    messages = [{"role": "user", "content": "Hello"}]
    prepared = build_prompt(tok, messages=messages)
    assert prepared.text == tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"prompt": "   "}, "the prompt is empty"),
        ({"template": "Income {income}", "variables": {}}, "needs variable(s) income"),
        ({"template": "Income {income}", "variables": {"income": 1, "debt": 2}}, "debt do not appear"),
        ({"template": "Income {0}", "variables": {}}, "is not a name"),
        ({"messages": []}, "message list is empty"),
        ({"prompt": "a", "template": "b"}, "exactly one of"),
        ({"prompt": "a", "system": "s"}, "system message needs a template"),
    ],
)
def test_bad_prompts_are_user_errors(tiny_loaded, kwargs, fragment):
    with pytest.raises(UserError) as info:
        build_prompt(tiny_loaded.tokenizer, **kwargs)
    assert fragment in str(info.value)
