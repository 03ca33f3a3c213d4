"""The demo catalog's vocabulary: product types, brands, colors, materials, audiences, sizes."""

from __future__ import annotations

PRODUCT_TYPES: dict[str, dict] = {
    "sneakers": {"names": ["Sneakers", "Trainers", "Running Shoes", "Sneaker"], "materials": ["leather", "canvas", "suede", "mesh"],
                 "sizes": [str(s) for s in range(36, 47)], "price": 85, "category": "Shoes > Sneakers"},
    "t-shirt": {"names": ["T-Shirt", "Tee", "Crew Neck Tee", "T-Shirt"], "materials": ["cotton", "linen", "polyester", "merino"],
                "sizes": ["xs", "s", "m", "l", "xl"], "price": 25, "category": "Clothing > Tops > T-Shirts"},
    "jeans": {"names": ["Jeans", "Slim Jeans", "Straight Leg Jeans", "Denim Pants"], "materials": ["denim", "corduroy", "twill"],
              "sizes": [str(s) for s in range(28, 38, 2)], "price": 70, "category": "Clothing > Bottoms > Jeans"},
    "dress": {"names": ["Dress", "Midi Dress", "Summer Dress", "Wrap Dress"], "materials": ["cotton", "linen", "silk", "viscose"],
              "sizes": ["xs", "s", "m", "l", "xl"], "price": 90, "category": "Clothing > Dresses"},
    "backpack": {"names": ["Backpack", "Rucksack", "Daypack", "Backpack"], "materials": ["canvas", "leather", "nylon", "polyester"],
                 "sizes": [], "price": 60, "category": "Bags > Backpacks"},
    "watch": {"names": ["Watch", "Wristwatch", "Chronograph Watch", "Analog Watch"], "materials": ["steel", "titanium", "leather", "silicone"],
              "sizes": [], "price": 150, "category": "Accessories > Watches"},
    "headphones": {"names": ["Headphones", "Over-Ear Headphones", "Wireless Headphones", "Headset"],
                   "materials": ["plastic", "aluminum", "leather"], "sizes": [], "price": 120, "category": "Electronics > Audio > Headphones"},
    "mug": {"names": ["Mug", "Coffee Mug", "Travel Mug", "Cup"], "materials": ["ceramic", "porcelain", "stoneware", "steel"],
            "sizes": [], "price": 15, "category": "Home > Kitchen > Mugs"},
    "sunglasses": {"names": ["Sunglasses", "Aviator Sunglasses", "Shades", "Sunglasses"], "materials": ["acetate", "metal", "titanium"],
                   "sizes": [], "price": 110, "category": "Accessories > Sunglasses"},
    "lamp": {"names": ["Lamp", "Table Lamp", "Desk Lamp", "Floor Lamp"], "materials": ["brass", "ceramic", "wood", "steel"],
             "sizes": [], "price": 75, "category": "Home > Lighting > Lamps"},
}

UNISEX_ONLY = {"mug", "lamp"}

BRANDS = ["Nordvik", "Alpenglow", "Kestrel", "Marlowe", "Brisa", "Tundra", "Velora", "Oakhurst",
          "Lumen", "Sable", "Halden", "Corvo", "Pico", "Ardent"]

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 40), "blue": (40, 80, 200), "green": (40, 150, 60), "black": (20, 20, 20),
    "white": (250, 250, 250), "grey": (130, 130, 130), "navy": (20, 30, 90), "beige": (220, 200, 160),
    "pink": (240, 130, 170), "yellow": (240, 210, 40), "brown": (120, 70, 30), "orange": (240, 130, 20),
    "purple": (120, 50, 160),
}

AUDIENCES = ["women", "men", "kids", "unisex"]
AUDIENCE_WORDS = {"women": ["Women's", "Womens", "Ladies'"], "men": ["Men's", "Mens"], "kids": ["Kids'", "Children's"], "unisex": ["Unisex", ""]}
MODEL_WORDS = ["Aero", "Classic", "Drift", "Echo", "Flux", "Glide", "Harbor", "Ion", "Juno", "Kite", "Luna", "Metro",
               "Nova", "Orbit", "Pulse", "Quest", "Ridge", "Summit", "Terra", "Vista"]
ADJECTIVES = ["lightweight", "durable", "everyday", "timeless", "comfortable", "versatile", "minimalist", "premium",
              "sustainable", "handcrafted", "modern", "relaxed"]
USES = ["the office", "weekend trips", "the gym", "city walks", "travel", "gifting", "daily use", "the outdoors"]
DEGRADATIONS = ["blur", "dark", "off-center", "cropped", "skewed", "noise", "tiny"]
ZERO_RESULT_QUERIES = ["unicorn saddle", "quantum flux capacitor", "garden gnome", "snowmobile", "harpsichord strings",
                       "submarine periscope", "llama wool poncho"]
MISSPELLINGS = {"sneakers": ["snekers", "sneekers"], "backpack": ["backpak", "bakcpack"], "headphones": ["headphnes", "hedphones"],
                "sunglasses": ["sunglases", "sunglsses"], "t-shirt": ["tshrt"], "jeans": ["jenas"], "watch": ["wacth"],
                "dress": ["dres"], "lamp": ["lammp"], "mug": ["mugg"]}
