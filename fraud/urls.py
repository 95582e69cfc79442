from django.urls import path

from fraud import views

urlpatterns = [
    path("staff/fraud/", views.staff_fraud_queue, name="staff_fraud_queue"),
    path("staff/fraud/<int:case_id>/", views.staff_fraud_case, name="staff_fraud_case"),
    path("staff/fraud/<int:case_id>/decide/", views.staff_fraud_decide, name="staff_fraud_decide"),
]
