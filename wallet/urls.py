from django.urls import path

from wallet import api, api_purchases, api_withdrawals

urlpatterns = [
    path("wallet", api.WalletApi.as_view(), name="wallet"),
    path(
        "wallet/transactions",
        api.WalletTransactionsApi.as_view(),
        name="wallet-transactions",
    ),
    path("wallet/packages", api_purchases.CoinPackagesApi.as_view(), name="wallet-packages"),
    path("wallet/purchases", api_purchases.PurchasesApi.as_view(), name="wallet-purchases"),
    path(
        "payments/webhook/<str:provider>",
        api_purchases.PaymentWebhookApi.as_view(),
        name="payment-webhook",
    ),
    path("withdrawals", api_withdrawals.WithdrawalsApi.as_view(), name="withdrawals"),
]
