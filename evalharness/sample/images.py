"""Product images drawn with Pillow: the product type's shape in the product's color, optionally degraded."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

SIZE = 256
BACKGROUND = (236, 236, 232)
OUTLINE = (60, 60, 60)


def _draw_shape(draw: ImageDraw.ImageDraw, ptype: str, fill: tuple[int, int, int]) -> None:
    o = OUTLINE
    if ptype == "sneakers":
        draw.polygon([(40, 150), (60, 100), (110, 95), (150, 130), (215, 140), (220, 170), (40, 170)], fill=fill, outline=o, width=3)
        draw.rectangle([36, 170, 224, 186], fill=(245, 245, 245), outline=o, width=3)
    elif ptype == "t-shirt":
        draw.polygon([(70, 50), (105, 40), (151, 40), (186, 50), (226, 95), (196, 120), (181, 105), (181, 215), (75, 215),
                      (75, 105), (60, 120), (30, 95)], fill=fill, outline=o, width=3)
    elif ptype == "jeans":
        draw.polygon([(80, 40), (176, 40), (190, 220), (140, 220), (128, 100), (116, 220), (66, 220)], fill=fill, outline=o, width=3)
    elif ptype == "dress":
        draw.polygon([(105, 40), (151, 40), (160, 100), (205, 220), (51, 220), (96, 100)], fill=fill, outline=o, width=3)
        draw.line([(105, 40), (100, 20)], fill=o, width=4)
        draw.line([(151, 40), (156, 20)], fill=o, width=4)
    elif ptype == "backpack":
        draw.rounded_rectangle([65, 50, 191, 220], radius=30, fill=fill, outline=o, width=3)
        draw.rounded_rectangle([90, 140, 166, 200], radius=12, outline=o, width=3)
        draw.arc([98, 20, 158, 80], 180, 360, fill=o, width=5)
    elif ptype == "watch":
        draw.rectangle([108, 20, 148, 236], fill=fill, outline=o, width=3)
        draw.ellipse([78, 78, 178, 178], fill=(250, 250, 250), outline=o, width=6)
        draw.line([(128, 128), (128, 95)], fill=o, width=4)
        draw.line([(128, 128), (152, 128)], fill=o, width=4)
    elif ptype == "headphones":
        draw.arc([50, 40, 206, 196], 180, 360, fill=fill, width=14)
        draw.rounded_rectangle([38, 110, 78, 190], radius=12, fill=fill, outline=o, width=3)
        draw.rounded_rectangle([178, 110, 218, 190], radius=12, fill=fill, outline=o, width=3)
    elif ptype == "mug":
        draw.rectangle([60, 70, 170, 210], fill=fill, outline=o, width=3)
        draw.arc([145, 95, 215, 175], 270, 90, fill=o, width=10)
    elif ptype == "sunglasses":
        draw.ellipse([30, 95, 120, 165], fill=fill, outline=o, width=4)
        draw.ellipse([136, 95, 226, 165], fill=fill, outline=o, width=4)
        draw.line([(120, 120), (136, 120)], fill=o, width=5)
    else:  # lamp
        draw.polygon([(90, 40), (166, 40), (196, 120), (60, 120)], fill=fill, outline=o, width=3)
        draw.rectangle([123, 120, 133, 200], fill=o)
        draw.rectangle([85, 200, 171, 215], fill=fill, outline=o, width=3)


def draw_product(ptype: str, color: tuple[int, int, int], degradation: str, rng: random.Random) -> Image.Image:
    """Draw one 256x256 product image and apply a degradation ('none' for a clean image)."""
    img = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    _draw_shape(ImageDraw.Draw(img), ptype, color)
    if degradation == "blur":
        img = img.filter(ImageFilter.GaussianBlur(7))
    elif degradation == "dark":
        img = ImageEnhance.Brightness(img).enhance(0.22)
    elif degradation == "off-center":
        shifted = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
        shifted.paste(img, (rng.choice([-1, 1]) * 95, rng.choice([-1, 1]) * 80))
        img = shifted
    elif degradation == "cropped":
        x, y = rng.randint(0, 60), rng.randint(0, 60)
        img = img.crop((x, y, x + 110, y + 110)).resize((SIZE, SIZE))
    elif degradation == "skewed":
        img = img.transform((SIZE, SIZE), Image.Transform.AFFINE, (1, 0.45, -58, 0.2, 1, -25), fillcolor=BACKGROUND)
    elif degradation == "noise":
        noise = Image.frombytes("RGB", (SIZE, SIZE), rng.randbytes(SIZE * SIZE * 3))
        img = Image.blend(img, noise, 0.55)
    elif degradation == "tiny":
        small = img.resize((48, 48))
        img = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
        img.paste(small, (104, 104))
    return img
