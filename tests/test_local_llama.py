"""The Gemma chat format of the local server, without llama.cpp: turns, system text, re-asks."""

from __future__ import annotations

from agent.local_llama import gemma_prompt

TOOL = {"type": "function", "function": {"name": "Capital", "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "description": "The city."}}}}}


def test_system_text_opens_the_first_user_turn():
    prompt = gemma_prompt([{"role": "system", "content": "task: x\nBe brief."},
                           {"role": "user", "content": "Country: France"}])
    assert prompt == ("<start_of_turn>user\ntask: x\nBe brief.\n\nCountry: France<end_of_turn>\n"
                      "<start_of_turn>model\n")


def test_a_reask_second_user_turn_is_merged_not_refused():
    prompt = gemma_prompt([{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
                           {"role": "user", "content": "That was cut off. Answer again."}])
    assert prompt.count("<start_of_turn>user") == 1
    assert "U1\n\nThat was cut off. Answer again.<end_of_turn>" in prompt


def test_assistant_turns_become_model_turns_and_content_parts_are_read():
    prompt = gemma_prompt([{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                           {"role": "assistant", "content": None},
                           {"role": "user", "content": "again"}])
    assert prompt == ("<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n<end_of_turn>\n"
                      "<start_of_turn>user\nagain<end_of_turn>\n<start_of_turn>model\n")


def test_the_forced_tool_fields_are_named_for_the_model():
    prompt = gemma_prompt([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
                          tools=[TOOL], tool_choice={"type": "function",
                                                     "function": {"name": "Capital"}})
    assert "S\n\nAnswer with one JSON object with the fields: city.\n\nU<end_of_turn>" in prompt
    assert "The city." not in prompt  # descriptions get copied into answers by small models
    assert "JSON object" not in gemma_prompt([{"role": "user", "content": "U"}], tools=[TOOL],
                                             tool_choice="auto")
