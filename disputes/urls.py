"""After-sales pages: buyer, merchant inbox, staff dispute console, evidence files."""

urlpatterns: list = []
