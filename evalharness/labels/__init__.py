"""Labels: label schemes (names, gains, definitions), label sources and import/export formats."""
