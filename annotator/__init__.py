"""The Lineproof annotator: Django project and app in one package."""
