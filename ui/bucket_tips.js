// Code Map hover panel: thumbnails and captions of the distinct code under the cursor.
// Runs in an st.iframe (same origin as the app): it stores this render's data on
// the parent window and, once per page, installs a listener script there that hooks plotly's own
// "plotly_hover" event of every chart (Plotly hover labels cannot show <img>). docs/app.md.
(function () {
  const P = window.parent;
  P.__cmhBucketTips = JSON.parse(document.getElementById("cmh-tips-data").textContent);
  if (P.__cmhBucketTipsInstalled) return;
  P.__cmhBucketTipsInstalled = true;
  const s = P.document.createElement("script");
  s.textContent = "(" + install.toString() + ")();";
  P.document.head.appendChild(s);

  function install() {
    const panel = document.createElement("div");
    panel.id = "cmh-bucket-tip";
    panel.style.cssText =
      "position:fixed;z-index:100000;display:none;background:#fff;color:#222;border:1px solid #aaa;" +
      "border-radius:6px;padding:6px 8px;max-width:400px;font:12px/1.3 sans-serif;" +
      "pointer-events:none;box-shadow:0 2px 8px rgba(0,0,0,.25)";
    document.body.appendChild(panel);
    const esc = (t) => String(t).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
    function hide() {
      panel.style.display = "none";
    }
    function show(ev) {
      const data = window.__cmhBucketTips;
      const pt = ev && ev.points && ev.points[0];
      if (!data || !pt) return hide();
      const id = pt.id !== undefined ? pt.id : ((pt.data && pt.data.ids) || [])[pt.pointNumber];
      const b = data.buckets[id];
      if (!b) return hide();
      let h = "<div style='font-weight:600;margin-bottom:4px'>" + esc(b.head) + "</div>";
      h += "<div style='display:grid;grid-template-columns:repeat(4,90px);gap:4px'>";
      for (const [k, cap] of b.items) {
        h += "<figure style='margin:0;text-align:center'><img class='cmh-tip-thumb' alt='' width='48' " +
          "height='48' src='" + data.thumbs[k] + "'><figcaption style='font-size:11px;overflow-wrap:anywhere'>" +
          esc(cap) + "</figcaption></figure>";
      }
      h += "</div>";
      if (b.more) h += "<div class='cmh-tip-more' style='margin-top:4px'>+" + b.more + " more</div>";
      panel.innerHTML = h;
      panel.style.display = "block";
      const e = ev.event || {};
      const x = e.clientX || 0, y = e.clientY || 0;
      let left = x + 18, top = y + 18;
      if (left + panel.offsetWidth > window.innerWidth) left = Math.max(4, x - panel.offsetWidth - 18);
      if (top + panel.offsetHeight > window.innerHeight) top = Math.max(4, window.innerHeight - panel.offsetHeight - 4);
      panel.style.left = left + "px";
      panel.style.top = top + "px";
    }
    function attach() {
      document.querySelectorAll(".js-plotly-plot").forEach((gd) => {
        if (gd.__cmhTips || typeof gd.on !== "function") return;
        gd.__cmhTips = true;
        gd.on("plotly_hover", show);
        gd.on("plotly_unhover", hide);
      });
    }
    attach();
    setInterval(attach, 400); // reruns replace the chart's element: hook the new one
  }
})();
