// Live confidence preview on the propose form (progressive: the form works without it).
// The rule comes from the server (app/confidence.toml via data-confidence-rule); the server
// recomputes the level on submit and stays the authority.
(function () {
  "use strict";
  var form = document.querySelector("form[data-confidence-rule]");
  if (!form) { return; }
  var rule = JSON.parse(form.getAttribute("data-confidence-rule"));
  var output = form.querySelector("[data-confidence-output]");
  var confirmed = form.querySelector("input[name=confirmed_confidence]");
  if (!output || !confirmed) { return; }

  function assess() {
    var score = 0, answers = {}, names = Object.keys(rule.weights);
    for (var i = 0; i < names.length; i++) {
      var checked = form.querySelector("input[name='" + names[i] + "']:checked");
      if (!checked || !(checked.value in rule.weights[names[i]])) { return null; }
      answers[names[i]] = checked.value;
      score += rule.weights[names[i]][checked.value];
    }
    var level = score >= rule.thresholds.high ? "high" : score >= rule.thresholds.medium ? "medium" : "low";
    var capped = [];
    Object.keys(rule.caps).forEach(function (name) {
      var cap = rule.caps[name][answers[name]];
      if (cap && rule.levels.indexOf(cap) < rule.levels.indexOf(level)) { capped.push([cap, name + "=" + answers[name]]); }
    });
    capped.forEach(function (c) {
      if (rule.levels.indexOf(c[0]) < rule.levels.indexOf(level)) { level = c[0]; }
    });
    var max = names.reduce(function (sum, n) {
      return sum + Math.max.apply(null, Object.values(rule.weights[n]));
    }, 0);
    var why = "score " + score + " of " + max;
    if (capped.length) { why += ", capped by " + capped.map(function (c) { return c[1]; }).join(", "); }
    return { level: level, why: why };
  }

  function render() {
    var result = assess();
    output.textContent = "";
    if (!result) {
      var hint = document.createElement("span");
      hint.className = "muted";
      hint.textContent = "answer the four questions";
      output.appendChild(hint);
      confirmed.value = "";
      return;
    }
    var badge = document.createElement("span");
    badge.className = "badge " + result.level;
    badge.textContent = result.level;
    var why = document.createElement("span");
    why.className = "muted";
    why.textContent = " (" + result.why + ")";
    output.appendChild(badge);
    output.appendChild(why);
    confirmed.value = result.level;  // the curator sees this level before submitting
  }

  form.addEventListener("change", render);
  render();
}());
