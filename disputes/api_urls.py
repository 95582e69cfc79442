"""After-sales API: requests, responses, evidence, messages, escalation; staff rulings."""

urlpatterns: list = []
