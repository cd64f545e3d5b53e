from django.urls import path

from wallet.ledger import api as ledger_api
from wallet.payouts import api as payouts_api
from wallet.purchases import api as purchases_api
from wallet.withdrawals import api as withdrawals_api

urlpatterns = [
    path("wallet", ledger_api.WalletApi.as_view(), name="wallet"),
    path(
        "wallet/transactions",
        ledger_api.WalletTransactionsApi.as_view(),
        name="wallet-transactions",
    ),
    path("wallet/packages", purchases_api.CoinPackagesApi.as_view(), name="wallet-packages"),
    path("wallet/purchases", purchases_api.PurchasesApi.as_view(), name="wallet-purchases"),
    path(
        "wallet/purchases/appstore",
        purchases_api.AppStorePurchaseApi.as_view(),
        name="wallet-purchases-appstore",
    ),
    path(
        "wallet/purchases/googleplay",
        purchases_api.GooglePlayPurchaseApi.as_view(),
        name="wallet-purchases-googleplay",
    ),
    path(
        "payments/webhook/<str:provider>",
        purchases_api.PaymentWebhookApi.as_view(),
        name="payment-webhook",
    ),
    path("withdrawals", withdrawals_api.WithdrawalsApi.as_view(), name="withdrawals"),
    path(
        "payouts/onboarding", payouts_api.PayoutOnboardingApi.as_view(), name="payouts-onboarding"
    ),
    path("payouts/account", payouts_api.PayoutAccountApi.as_view(), name="payouts-account"),
    path(
        "payouts/webhook/stripe",
        payouts_api.PayoutWebhookApi.as_view(),
        name="payouts-webhook-stripe",
    ),
]
