// Live refresh of the overview: every 2 s the figures are fetched again and swapped in.
// Without JavaScript the page is the same, refreshed by hand.
(function () {
  const live = document.getElementById("live");
  if (!live) return;
  async function refresh() {
    try {
      const response = await fetch("/admin/console/live", { credentials: "same-origin", cache: "no-store" });
      if (response.ok) live.innerHTML = await response.text();
    } catch (error) { /* the next tick tries again */ }
  }
  setInterval(refresh, 2000);
})();
