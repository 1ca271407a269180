"""An overseer: reviews the hooks a `decision = "review"` policy rule sends it.

    pip install ./sdks/python
    python3 examples/overseer.py       # finds the daemon and operator token like the `tether` CLI

Heuristics first: commands known to be harmless are allowed, known-destructive ones
denied with a reason Claude reads. What they leave open goes to a model when one is
configured (any chat-completions endpoint):

    TETHER_OVERSEER_URL      e.g. https://api.openai.com/v1/chat/completions
    TETHER_OVERSEER_MODEL    e.g. gpt-4o-mini
    TETHER_OVERSEER_API_KEY  sent as `Authorization: Bearer …` (optional)

The model is asked for one word (allow, deny or ask); anything else, a failure, or no
model configured answers `ask`, which opens an approval naming this overseer: a flag
for a human. The daemon gives each review `hooks.review_timeout_ms` (3 s by default):
a model slower than that yields the daemon's fallback (ask or deny), never an allow.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.request

import tether

NAME = "heuristics"

#: Commands that only read: allowed.
HARMLESS = re.compile(r"^\s*(ls|pwd|cat|head|tail|wc|grep|rg|find|echo|git (status|diff|log|show))(\s|$)")
#: Commands that destroy or exfiltrate: denied, with why.
DESTRUCTIVE = [
    (re.compile(r"\brm\s+-[a-z]*r[a-z]*f?\s+(/|~|\$HOME)(\s|$)"), "deletes a home or root directory"),
    (re.compile(r"\b(curl|wget)\b[^|]*\|\s*(ba|z)?sh\b"), "pipes a download into a shell"),
    (re.compile(r"\bgit\s+push\b.*--force"), "force-pushes"),
    (re.compile(r"\bmkfs\.|\bdd\s+if=.*\bof=/dev/"), "writes a raw device"),
    (re.compile(r"\.ssh/|id_rsa|\.aws/credentials"), "touches credentials"),
]


def heuristics(command: str) -> tether.ReviewResult | None:
    for pattern, why in DESTRUCTIVE:
        if pattern.search(command):
            return {"decision": "deny", "reason": why}
    if HARMLESS.search(command) and not re.search(r"[;&|`$>]", command):
        return {"decision": "allow", "reason": "read-only command"}
    return None


def ask_model(call: tether.ReviewParams) -> tether.ReviewResult:
    """One chat-completions request; the model's first word is the verdict."""
    url = os.environ["TETHER_OVERSEER_URL"]
    prompt = (
        "You review an AI coding agent's tool call before it runs. Answer with exactly one word: "
        "allow (harmless), deny (destructive or exfiltrating) or ask (a human should look).\n"
        f"Tool: {call.get('tool')}\nInput: {json.dumps(call['input'])[:4000]}"
    )
    body = {
        "model": os.environ.get("TETHER_OVERSEER_MODEL", "gpt-4o-mini"),
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 3,
        "temperature": 0,
    }
    headers = {"Content-Type": "application/json"}
    if key := os.environ.get("TETHER_OVERSEER_API_KEY"):
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    deadline = max(call["deadline_ms"] / 1000 - 0.2, 0.1)  # answer before the daemon gives up
    with urllib.request.urlopen(request, timeout=deadline) as response:
        answer = json.load(response)["choices"][0]["message"]["content"]
    word = (re.findall(r"[a-z]+", str(answer).lower()) or ["?"])[0]
    verdicts: dict[str, tether.ReviewResult] = {
        "allow": {"decision": "allow", "reason": "the model said allow"},
        "deny": {"decision": "deny", "reason": "the model said deny"},
        "ask": {"decision": "ask", "reason": "the model said ask"},
    }
    unclear: tether.ReviewResult = {"decision": "ask", "reason": f"the model answered {str(answer)[:80]!r}"}
    return verdicts.get(word, unclear)


async def review(call: tether.ReviewParams) -> tether.ReviewResult:
    command = str((call["input"] or {}).get("command", "")) if isinstance(call["input"], dict) else ""
    decided = heuristics(command) if call.get("tool") == "Bash" else None
    if decided is not None:
        return decided
    if not os.environ.get("TETHER_OVERSEER_URL"):
        return {"decision": "ask", "reason": "no heuristic decides this and no model is configured"}
    try:
        return await asyncio.to_thread(ask_model, call)
    except Exception as e:  # a model that fails flags the call for a human
        return {"decision": "ask", "reason": f"the model call failed: {type(e).__name__}"}


async def main() -> None:
    async with tether.connect() as client:
        client.overseer(tools=["*"], name=NAME)(review)
        await client.sync_overseers()
        print(f"overseer {NAME} registered", flush=True)
        await asyncio.Event().wait()  # reviews arrive until the process is stopped


if __name__ == "__main__":
    asyncio.run(main())
