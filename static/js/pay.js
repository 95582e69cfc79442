// Real Stripe mode only: mount the Payment Element and confirm the PaymentIntent.
(function () {
  const form = document.getElementById("payment-form");
  if (!form || !window.Stripe) return;
  const stripe = window.Stripe(form.dataset.publishableKey);
  const elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  elements.create("payment").mount("#payment-element");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { error } = await stripe.confirmPayment({ elements, confirmParams: { return_url: form.dataset.returnUrl } });
    if (error) document.getElementById("payment-message").textContent = error.message;
  });
})();
