"""`python -m agent.local_llama ARGS`: llama.cpp's OpenAI-compatible server, plus a Gemma chat
format that keeps the system prompt.

The bundled GGUF carries no chat template, so llama-cpp-python would fall back to Llama 2's
`[INST]` format, and its own "gemma" format silently drops system messages, which is where
absorb's instructions live. Gemma 3's official template folds the system text into the first
user turn and refuses two user turns in a row (absorb's one re-ask adds a second); this
format does the first and merges the second instead of failing. Everything else is
`python -m llama_cpp.server` unchanged.
"""

from __future__ import annotations

from typing import Any

GEMMA_FORMAT = "absorb-gemma"
TURN_END = "<end_of_turn>"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _answer_format(tools: list | None, tool_choice: Any) -> str:
    """The fields the grammar will enforce, named. Only named: given the whole JSON schema,
    the 270M model copied its descriptions ("One sentence: why.") into its answers."""
    if not tools or not isinstance(tool_choice, dict):
        return ""
    name = tool_choice.get("function", {}).get("name")
    tool = next((t for t in tools if t.get("function", {}).get("name") == name), None)
    if tool is None:
        return ""
    fields = ", ".join(tool["function"].get("parameters", {}).get("properties", {}))
    return f"Answer with one JSON object with the fields: {fields}."


def gemma_prompt(messages: list[dict], tools: list | None = None,
                 tool_choice: Any = None) -> str:
    """Gemma turns: system text first in the first user turn, same-role turns merged."""
    system = [_text(m.get("content")) for m in messages if m.get("role") == "system"]
    answer_format = _answer_format(tools, tool_choice)
    if answer_format:
        system.append(answer_format)
    turns: list[list[str]] = []
    for message in messages:
        role = {"system": None, "assistant": "model"}.get(message.get("role"), "user")
        if role is None:
            continue
        text = _text(message.get("content"))
        if turns and turns[-1][0] == role:
            turns[-1][1] += "\n\n" + text
        else:
            turns.append([role, text])
    preamble = "\n\n".join(part for part in system if part)
    if preamble:
        if turns and turns[0][0] == "user":
            turns[0][1] = f"{preamble}\n\n{turns[0][1]}"
        else:
            turns.insert(0, ["user", preamble])
    body = "".join(f"<start_of_turn>{role}\n{text.strip()}{TURN_END}\n" for role, text in turns)
    return body + "<start_of_turn>model\n"


TOP_LEVEL_ITEMS = 8
NESTED_ITEMS = 4


def bound_arrays(schema: Any, *, top_level: bool = True) -> Any:
    """A copy of a JSON schema whose arrays have a maxItems, so the grammar built from it
    ends every list. Greedy decoding of a 270M model otherwise repeats list items (seen:
    triage listing the same eight sources again until max_tokens cut it off)."""
    if isinstance(schema, list):
        return [bound_arrays(item, top_level=top_level) for item in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            bounded[key] = {name: bound_arrays(sub, top_level=top_level)
                            for name, sub in value.items()}
        else:
            bounded[key] = bound_arrays(value, top_level=False)
    if bounded.get("type") == "array" and "maxItems" not in bounded:
        bounded["maxItems"] = TOP_LEVEL_ITEMS if top_level else NESTED_ITEMS
    return bounded


def _bounded_tools(tools: list | None) -> list | None:
    if not tools:
        return tools
    return [{**tool, "function": {**tool["function"], "parameters": bound_arrays(
        tool["function"].get("parameters", {}))}} if "function" in tool else tool
        for tool in tools]


def register() -> None:
    """Register GEMMA_FORMAT: Gemma turns, decoded greedily, lists bounded.

    absorb sends no temperature, so the server's default of 0.8 would apply; a 270M model
    sampling at 0.8 wanders off the source text it should copy, and copying is what the
    citation gate rewards.
    """
    from llama_cpp import llama_chat_format

    def format_absorb_gemma(messages: list[dict], **kwargs: Any):  # noqa: ANN202
        prompt = gemma_prompt(messages, kwargs.get("tools"), kwargs.get("tool_choice"))
        return llama_chat_format.ChatFormatterResponse(prompt=prompt, stop=TURN_END)

    handler = llama_chat_format.chat_formatter_to_chat_completion_handler(format_absorb_gemma)

    def greedy(**kwargs: Any) -> Any:
        return handler(**{**kwargs, "temperature": 0.0,
                          "tools": _bounded_tools(kwargs.get("tools"))})

    llama_chat_format.LlamaChatCompletionHandlerRegistry().register_chat_completion_handler(
        GEMMA_FORMAT, greedy)


def main() -> None:
    register()
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
