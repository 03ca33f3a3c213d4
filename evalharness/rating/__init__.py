"""People rating pairs: weighted samples, agreement between raters, the rating web page."""
