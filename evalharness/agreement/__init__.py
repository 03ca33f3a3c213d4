"""Agreement: a judge against a reference source (people, behaviour), between people's raters and at system level."""
