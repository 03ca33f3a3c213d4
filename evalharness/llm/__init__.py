"""LLM providers (OpenAI and OpenAI-compatible servers, Gemini), prompts, rate limits and prices."""
