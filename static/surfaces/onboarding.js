// The console's 开始使用 card (templates/chat/console/_onboarding_card.html) stays one line on a phone so the
// chat list keeps its first screen; a wide screen has room for the steps at once, and coming back from
// Settings (#onboarding) is asking to see them.
const card = document.querySelector("[data-onboarding-card]");
if (card && (window.matchMedia("(min-width: 1024px)").matches || window.location.hash === "#onboarding")) {
  card.open = true;
}
