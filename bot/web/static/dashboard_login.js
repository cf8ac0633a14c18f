// The one-time login token comes in the URL fragment (#t=…), which browsers never send to a
// server, so it is in no access log, proxy log or Referer. Take it out of the address bar and
// the history, then post it (with the unit and quarter asked for) to /dashboard/login.
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.hash.slice(1));
  var form = document.getElementById("login");
  if (!params.get("t")) {
    document.getElementById("message").textContent = "登录链接不完整。请在连心中发送“统计”，点击机器人发来的看板链接。";
    return;
  }
  window.history.replaceState(null, "", window.location.pathname);
  ["t", "unit", "quarter"].forEach(function (name) {
    form.elements[name].value = params.get(name) || "";
  });
  form.submit();
})();
