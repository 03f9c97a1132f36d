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


def test_arrays_get_a_bound_so_greedy_decoding_cannot_repeat_items_forever():
    from agent.local_llama import bound_arrays

    schema = {"type": "object", "properties": {
        "decisions": {"type": "array", "items": {"$ref": "#/$defs/Decision"}},
        "fixed": {"type": "array", "maxItems": 2, "items": {"type": "string"}}},
        "$defs": {"Decision": {"type": "object", "properties": {
            "sections": {"type": "array", "items": {"type": "string"}},
            "reason": {"type": "string"}}}}}
    bounded = bound_arrays(schema)
    assert bounded["properties"]["decisions"]["maxItems"] == 8
    assert bounded["properties"]["fixed"]["maxItems"] == 2
    assert bounded["$defs"]["Decision"]["properties"]["sections"]["maxItems"] == 4
    assert "maxItems" not in bounded["$defs"]["Decision"]["properties"]["reason"]
    assert "maxItems" not in schema["properties"]["decisions"]  # the request is not changed
