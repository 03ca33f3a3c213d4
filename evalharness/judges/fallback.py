"""Text judging for hits whose image cannot be fetched (`[judge] image_fallback = "text"`, the default).

`ImageOrText` wraps an image- or caption-mode judge and a text-mode judge of the same model. A request
that carries its image goes to the image judge; one without (the pipeline found the image unreadable)
goes to the text judge, and its judgment is recorded with `details["image_fallback"] = "text"`. Such
pairs are cached under the text-mode key, never under an image key, so a later run that can read the
image judges it with the image."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from evalharness.judges.base import Judge, JudgeRequest
from evalharness.models import Judgment


class ImageOrText(Judge):
    """An image/caption judge that falls back to its text-mode twin for requests without an image."""

    def __init__(self, image: Judge, text: Judge) -> None:
        self.image, self.text = image, text
        self.judge_id = image.judge_id  # runs, pools and comparisons name the judge the user chose
        self.mode = image.mode
        self.paid = image.paid
        self.max_concurrency = image.max_concurrency

    @property
    def text_judge_id(self) -> str:
        """The judge id that goes into the cache key of a fallback pair (the text-mode key)."""
        return self.text.judge_id

    async def judge(self, request: JudgeRequest) -> Judgment:
        if request.image is not None:
            return await self.image.judge(request)
        j = await self.text.judge(request)
        return replace(j, judge_id=self.judge_id, details={**(j.details or {}), "image_fallback": "text"})

    def should_retry(self, exc: BaseException) -> bool:
        return self.image.should_retry(exc) or self.text.should_retry(exc)

    def estimate_tokens(self, request: JudgeRequest) -> tuple[int, int]:
        return (self.image if request.image is not None else self.text).estimate_tokens(request)

    def price_per_mtok(self) -> tuple[float, float]:
        return self.image.price_per_mtok()

    async def aclose(self) -> None:
        await self.image.aclose()
        await self.text.aclose()

    def attach_store(self, store: Any) -> None:
        self.image.attach_store(store)
        self.text.attach_store(store)
