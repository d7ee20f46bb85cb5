/* ViewerAtlas interactive map: sigma.js (WebGL) over a graphology graph.
 *
 * Every string in the data is untrusted: it only ever reaches the page through
 * textContent (DOM) or sigma's canvas labels, never through innerHTML. The data comes from
 * the inert <script type="application/json" id="atlas-data"> block.
 */
(function () {
  "use strict";

  var t0 = performance.now();
  var timings = {};
  var data = JSON.parse(document.getElementById("atlas-data").textContent);
  timings.parse = performance.now() - t0;
  var N = data.nodes;
  var E = data.edges;
  var n = N.key.length;
  var m = E.s.length;
  var comms = data.communities;
  var colourOf = {};
  var labelOf = {};
  var commById = {};
  comms.forEach(function (c) {
    colourOf[c.id] = c.color;
    labelOf[c.id] = c.label;
    commById[c.id] = c;
  });
  var GREY = data.unclustered_color;
  // Communities past the palette are drawn muted: their links are faded too.
  var colouredRank = {};
  comms.forEach(function (c, rank) {
    colouredRank[c.id] = rank < data.coloured;
  });

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function fmt(v) {
    return Number(v).toLocaleString("en-US");
  }
  function pct(part, whole) {
    if (!whole) return "—";
    var p = (100 * part) / whole;
    return (p >= 10 ? Math.round(p) : p.toFixed(1)) + " %";
  }
  function nameOf(i) {
    return N.label[i] || N.key[i];
  }
  // Sigma blends with (ONE, ONE_MINUS_SRC_ALPHA), i.e. it expects premultiplied colours:
  // without this, thousands of translucent edges add up to washed-out neon.
  function rgba(hex, alpha) {
    var r = Math.round(parseInt(hex.slice(1, 3), 16) * alpha);
    var g = Math.round(parseInt(hex.slice(3, 5), 16) * alpha);
    var b = Math.round(parseInt(hex.slice(5, 7), 16) * alpha);
    return "rgba(" + r + "," + g + "," + b + "," + alpha + ")";
  }
  function shade(hex, amount) {
    // amount in -1..1: towards black (negative) or white (positive)
    var out = "#";
    for (var k = 1; k < 7; k += 2) {
      var v = parseInt(hex.slice(k, k + 2), 16);
      v = amount >= 0 ? v + (255 - v) * amount : v * (1 + amount);
      out += ("0" + Math.round(v).toString(16)).slice(-2);
    }
    return out;
  }

  // ---- graph -------------------------------------------------------------------------
  var graph = new graphology.UndirectedGraph();
  var vmax = 1;
  for (var i = 0; i < n; i++) vmax = Math.max(vmax, N.viewers[i]);
  // Biggest node ~14 px on a small map, ~4 px at 5,000 nodes, so islands keep their texture.
  var maxSize = Math.max(3.5, Math.min(14, 300 / Math.sqrt(Math.max(n, 1))));
  for (i = 0; i < n; i++) {
    var c = N.community[i];
    graph.addNode(String(i), {
      x: N.x[i],
      y: N.y[i],
      size: 0.8 + maxSize * Math.sqrt(N.viewers[i] / vmax),
      color: c >= 0 && colourOf[c] ? colourOf[c] : GREY,
      label: nameOf(i),
      community: c,
      zIndex: 1,
    });
  }
  // Sub-community colours: shades of the community's colour, biggest sub-community first.
  var subColour = null;
  if (N.sub) {
    var subCount = {};
    for (i = 0; i < n; i++) {
      var sk = N.community[i] + "\u0000" + N.sub[i];
      subCount[sk] = (subCount[sk] || 0) + 1;
    }
    var perComm = {};
    Object.keys(subCount)
      .sort(function (a, b) {
        return subCount[b] - subCount[a];
      })
      .forEach(function (sk) {
        var cid = sk.split("\u0000")[0];
        perComm[cid] = perComm[cid] || [];
        perComm[cid].push(sk);
      });
    var shadeOf = {};
    Object.keys(perComm).forEach(function (cid) {
      perComm[cid].forEach(function (sk, rank) {
        var step = [0, -0.35, 0.45, -0.6, 0.7][rank % 5];
        shadeOf[sk] = shade(colourOf[cid] || GREY, step);
      });
    });
    subColour = [];
    for (i = 0; i < n; i++) subColour.push(shadeOf[N.community[i] + "\u0000" + N.sub[i]]);
  }

  var wmax = 0;
  var between = 0;
  for (var e = 0; e < m; e++) {
    wmax = Math.max(wmax, E.w[e]);
    if (N.community[E.s[e]] !== N.community[E.t[e]]) between++;
  }
  wmax = wmax || 1;
  // Thousands of links between communities would add up to a grey hairball: the more
  // there are, the fainter each is drawn.
  var betweenAlpha = Math.min(1, 30 / Math.sqrt(Math.max(between, 1)));
  for (e = 0; e < m; e++) {
    var a = E.s[e];
    var b = E.t[e];
    var same = N.community[a] === N.community[b] && N.community[a] >= 0;
    var rel = E.w[e] / wmax;
    var muted = !same || !colouredRank[N.community[a]];
    graph.addEdgeWithKey(String(e), String(a), String(b), {
      size: 0.3 + 1.7 * rel,
      // Links between communities: neutral, visible, and drawn under the links inside.
      color: same
        ? rgba(colourOf[N.community[a]], (muted ? 0.06 : 0.1) + 0.3 * rel)
        : rgba("#6f6f6f", (0.05 + 0.25 * rel) * betweenAlpha),
      weight: E.w[e],
      zIndex: same ? 1 : 0,
    });
  }

  timings.graph = performance.now() - t0 - timings.parse;

  // ---- state -------------------------------------------------------------------------
  var state = {
    hiddenCommunities: new Set(),
    minWeight: -Infinity,
    selected: null,
    neighbours: null,
    closest: null,
    colourBy: "community",
  };
  function communityHidden(node) {
    return state.hiddenCommunities.has(N.community[node]);
  }

  var container = document.getElementById("graph");
  var renderer = new Sigma(graph, container, {
    hideEdgesOnMove: m > 20000,
    // Channel names appear as you zoom in: only nodes drawn bigger than the biggest node
    // at the overview get a label, one per grid cell, biggest first (sigma's label grid),
    // so labels never pile up. Community names are the overview's labels (see below).
    labelRenderedSizeThreshold: maxSize * 1.2,
    labelDensity: 0.5,
    labelGridCellSize: 120,
    labelFont: "system-ui, sans-serif",
    labelSize: 12,
    zIndex: true,
    minCameraRatio: 0.02,
    maxCameraRatio: 4,
    nodeReducer: function (key, attrs) {
      var idx = +key;
      var out = Object.assign({}, attrs);
      if (communityHidden(idx)) {
        out.hidden = true;
        return out;
      }
      if (subColour && state.colourBy === "sub" && subColour[idx]) out.color = subColour[idx];
      if (state.selected !== null) {
        if (idx === state.selected) {
          out.highlighted = true;
          out.forceLabel = true;
          out.size = Math.max(attrs.size, 8);
          out.zIndex = 3;
        } else if (state.neighbours.has(idx)) {
          out.zIndex = 2;
          out.size = Math.max(attrs.size, 3);
          // The most similar channels are always named.
          if (state.closest.has(idx)) out.forceLabel = true;
        } else {
          out.color = rgba("#c8c8c8", 0.35);
          out.label = "";
          out.zIndex = 0;
        }
      }
      return out;
    },
    edgeReducer: function (key, attrs) {
      var idx = +key;
      var a = E.s[idx];
      var b = E.t[idx];
      var out = Object.assign({}, attrs);
      if (
        E.w[idx] < state.minWeight ||
        communityHidden(a) ||
        communityHidden(b) ||
        (state.selected !== null && a !== state.selected && b !== state.selected)
      ) {
        out.hidden = true;
      } else if (state.selected !== null) {
        out.color = rgba("#3c3c3c", 0.55);
      }
      return out;
    },
  });
  var camera = renderer.getCamera();

  timings.sigma = performance.now() - t0 - timings.parse - timings.graph;

  // ---- community names at their centres (an HTML overlay above the canvas) ---------------
  var nameLayer = document.getElementById("community-labels");
  var nameTags = comms
    .filter(function (c) {
      return c.x !== null && c.y !== null;
    })
    .map(function (c) {
      var tag = el("div", "community-label", c.label);
      tag.style.color = shade(colourOf[c.id], -0.45);
      tag.dataset.community = String(c.id);
      var major = colouredRank[c.id];
      if (!major) tag.classList.add("muted");
      nameLayer.appendChild(tag);
      return { id: c.id, tag: tag, x: c.x, y: c.y, major: major };
    });
  // Sizes are measured once (and again on resize), never inside the per-frame loop below:
  // reading a size after moving another tag would force a layout per community per frame.
  function measureNames() {
    nameTags.forEach(function (t) {
      t.tag.hidden = false;
    });
    nameTags.forEach(function (t) {
      t.w = t.tag.offsetWidth;
      t.h = t.tag.offsetHeight;
    });
  }
  function placeNames() {
    // Biggest community first (the order of `comms`); a name that would overlap one
    // already placed, or fall outside the view, is not shown.
    var box = container.getBoundingClientRect();
    var ratio = camera.getState().ratio;
    nameLayer.classList.toggle("zoomed", ratio < 0.5);
    var placed = [];
    nameTags.forEach(function (t) {
      var p = renderer.graphToViewport({ x: t.x, y: t.y });
      var left = Math.max(2, Math.min(p.x - t.w / 2, box.width - t.w - 2));
      var top = p.y - t.h / 2;
      var rect = { l: left - 4, r: left + t.w + 4, t: top - 2, b: top + t.h + 2 };
      // At the overview only the coloured (largest) communities are named; the muted
      // ones' names come as you zoom in.
      var show =
        (t.major || ratio < 0.6) &&
        !state.hiddenCommunities.has(t.id) &&
        p.x >= 0 &&
        p.y >= 0 &&
        p.x <= box.width &&
        p.y <= box.height &&
        !placed.some(function (o) {
          return rect.l < o.r && rect.r > o.l && rect.t < o.b && rect.b > o.t;
        });
      t.tag.hidden = !show;
      if (!show) return;
      placed.push(rect);
      t.tag.style.transform = "translate(" + Math.round(left) + "px," + Math.round(top) + "px)";
    });
  }
  measureNames();
  window.addEventListener("resize", function () {
    measureNames();
    placeNames();
  });

  // ---- tooltip -----------------------------------------------------------------------
  var tooltip = document.getElementById("tooltip");
  var multiPlatform = !!N.platform;
  function fillTooltip(idx) {
    tooltip.replaceChildren();
    tooltip.appendChild(el("div", "tt-name", nameOf(idx)));
    if (N.label[idx] && N.label[idx] !== N.key[idx]) tooltip.appendChild(el("div", "tt-key", N.key[idx]));
    var c = N.community[idx];
    var rows = [];
    if (multiPlatform) rows.push(["platform", N.platform[idx] || "—"]);
    rows.push(["viewers", fmt(N.viewers[idx])]);
    rows.push(["community", c >= 0 ? labelOf[c] || "community " + c : "unclustered"]);
    if (N.sub && N.sub[idx] !== null && N.sub[idx] !== undefined) rows.push(["sub-community", N.sub[idx]]);
    if (N.confidence && N.confidence[idx] !== null && N.confidence[idx] !== undefined)
      rows.push(["confidence", Math.round(100 * N.confidence[idx]) + " %"]);
    if (N.bridge && N.bridge[idx]) rows.push(["bridge", "ties to several communities"]);
    rows.push(["game", N.game[idx] || "—"]);
    rows.push(["language", N.language[idx] || "—"]);
    if (N.title[idx]) rows.push(["title", N.title[idx]]);
    var table = el("table", "tt-rows");
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("th", null, row[0]));
      tr.appendChild(el("td", null, row[1]));
      table.appendChild(tr);
    });
    tooltip.appendChild(table);
    var top = N.top[idx];
    if (top && top.length) {
      tooltip.appendChild(el("div", "tt-head", "most similar audiences"));
      var list = el("table", "tt-top");
      var head = el("tr");
      ["channel", "shared", "% of this", "% of theirs"].forEach(function (h) {
        head.appendChild(el("th", null, h));
      });
      list.appendChild(head);
      for (var k = 0; k < top.length; k += 2) {
        var other = top[k];
        var shared = top[k + 1];
        var tr = el("tr");
        var cell = el("td");
        var go = el("button", "tt-go", nameOf(other));
        go.type = "button";
        go.dataset.node = String(other);
        go.addEventListener("click", selectFrom(other));
        cell.appendChild(go);
        tr.appendChild(cell);
        tr.appendChild(el("td", "tt-num", fmt(shared)));
        tr.appendChild(el("td", "tt-num", pct(shared, N.viewers[idx])));
        tr.appendChild(el("td", "tt-num", pct(shared, N.viewers[other])));
        list.appendChild(tr);
      }
      tooltip.appendChild(list);
    }
  }
  function selectFrom(other) {
    return function (event) {
      event.stopPropagation();
      select(other, true);
    };
  }
  var tooltipNode = null;
  function showTooltip(idx) {
    if (tooltipNode !== idx) fillTooltip(idx);
    tooltipNode = idx;
    tooltip.hidden = false;
    // Only the selected channel's card takes the pointer (its list is clickable).
    tooltip.classList.toggle("pinned", idx === state.selected);
    placeTooltip();
  }
  function placeTooltip() {
    if (tooltipNode === null) return;
    var p = viewportOf(tooltipNode);
    var box = container.getBoundingClientRect();
    var left = Math.min(p.x + 14, box.width - tooltip.offsetWidth - 8);
    var topPx = Math.min(p.y + 14, box.height - tooltip.offsetHeight - 8);
    tooltip.style.left = Math.max(4, left) + "px";
    tooltip.style.top = Math.max(4, topPx) + "px";
  }
  function hideTooltip() {
    tooltip.hidden = true;
    tooltipNode = null;
  }
  function viewportOf(idx) {
    var attrs = graph.getNodeAttributes(String(idx));
    return renderer.graphToViewport({ x: attrs.x, y: attrs.y });
  }

  // ---- selection (kept in the URL: #channel=<platform>/<name> or #channel=<name>) ---------
  function writeHash(idx) {
    var hash = idx === null ? "" : "#channel=" + encodeURIComponent(N.key[idx]);
    if (location.hash === hash || (!hash && !location.hash)) return;
    try {
      history.replaceState(null, "", hash || location.pathname + location.search);
    } catch (err) {
      location.hash = hash;
    }
  }
  function fromHash() {
    var match = /^#channel=(.*)$/.exec(location.hash);
    if (!match) return null;
    var wanted;
    try {
      wanted = decodeURIComponent(match[1]);
    } catch (err) {
      return null;
    }
    var idx = N.key.indexOf(wanted);
    if (idx < 0 && wanted.indexOf("/") > 0) {
      // <platform>/<name> on a one-platform map, whose keys are bare names
      var cut = wanted.indexOf("/");
      var name = wanted.slice(cut + 1);
      idx = N.key.indexOf(name);
      if (idx >= 0 && N.platform && N.platform[idx] !== wanted.slice(0, cut)) idx = -1;
    }
    if (idx < 0) {
      var lower = wanted.toLowerCase();
      for (var k = 0; k < n && idx < 0; k++) if (N.key[k].toLowerCase() === lower) idx = k;
    }
    return idx < 0 ? null : idx;
  }
  function select(idx, moveCamera) {
    if (idx === null || idx === undefined) {
      state.selected = null;
      state.neighbours = null;
      hideTooltip();
      writeHash(null);
      renderer.refresh({ skipIndexation: true });
      return;
    }
    if (communityHidden(idx)) {
      state.hiddenCommunities.delete(N.community[idx]);
      syncLegend();
    }
    state.selected = idx;
    state.neighbours = new Set(
      graph.neighbors(String(idx)).map(function (k) {
        return +k;
      })
    );
    state.closest = new Set(
      (N.top[idx] || []).filter(function (v, k) {
        return k % 2 === 0;
      })
    );
    writeHash(idx);
    renderer.refresh({ skipIndexation: true });
    if (moveCamera) {
      var display = renderer.getNodeDisplayData(String(idx));
      camera.animate({ x: display.x, y: display.y, ratio: Math.min(camera.getState().ratio, 0.45) }, { duration: 400 });
    }
    tooltipNode = null; // refill: the card changes from hover to pinned
    showTooltip(idx);
  }
  renderer.on("enterNode", function (payload) {
    var idx = +payload.node;
    // With a channel selected, only it and its (lit) neighbours answer the pointer.
    if (state.selected !== null && idx !== state.selected && !state.neighbours.has(idx)) return;
    showTooltip(idx);
    container.classList.add("pointing");
  });
  renderer.on("leaveNode", function () {
    container.classList.remove("pointing");
    if (state.selected === null) hideTooltip();
    else showTooltip(state.selected);
  });
  renderer.on("clickNode", function (payload) {
    select(+payload.node, false);
  });
  renderer.on("clickStage", function () {
    select(null);
  });
  // Keep the tooltip on its node and the names on their communities while the camera moves.
  renderer.on("afterRender", function () {
    placeTooltip();
    placeNames();
  });
  window.addEventListener("hashchange", function () {
    var idx = fromHash();
    if (idx !== null && idx !== state.selected) select(idx, true);
  });

  // ---- search: channel names, games, languages ----------------------------------------
  var search = document.getElementById("search");
  var results = document.getElementById("results");
  var lowerName = N.key.map(function (k, i) {
    return (k + "\u0000" + (N.label[i] || "")).toLowerCase();
  });
  var lowerGame = N.game.map(function (g) {
    return (g || "").toLowerCase();
  });
  var lowerLang = N.language.map(function (l) {
    return (l || "").toLowerCase();
  });
  function findChannels(query) {
    var q = query.trim().toLowerCase();
    if (!q) return [];
    var hits = [];
    for (var i = 0; i < n; i++) {
      if (communityHidden(i)) continue;
      var rank = -1;
      var pos = lowerName[i].indexOf(q);
      if (N.key[i].toLowerCase() === q) rank = 0;
      else if (pos === 0) rank = 1;
      else if (pos > 0) rank = 2;
      else if (lowerGame[i] === q) rank = 3;
      else if (lowerGame[i].indexOf(q) >= 0) rank = 4;
      else if (lowerLang[i] === q) rank = 5;
      if (rank >= 0) hits.push([rank, -N.viewers[i], i]);
    }
    hits.sort(function (a, b) {
      return a[0] - b[0] || a[1] - b[1];
    });
    return hits.slice(0, 12).map(function (h) {
      return h[2];
    });
  }
  function showResults() {
    results.replaceChildren();
    if (!search.value.trim()) {
      results.hidden = true;
      return;
    }
    var hits = findChannels(search.value);
    hits.forEach(function (idx) {
      var li = el("li");
      var button = el("button", "result", nameOf(idx));
      button.type = "button";
      button.dataset.node = String(idx);
      var sub = [N.game[idx], N.language[idx], fmt(N.viewers[idx]) + " viewers"].filter(Boolean);
      if (multiPlatform) sub.unshift(N.platform[idx]);
      button.appendChild(el("span", "result-sub", " " + sub.join(" · ")));
      button.addEventListener("click", function () {
        choose(idx);
      });
      li.appendChild(button);
      results.appendChild(li);
    });
    if (!hits.length) results.appendChild(el("li", "no-match", "no match"));
    results.hidden = false;
  }
  function choose(idx) {
    results.hidden = true;
    search.value = nameOf(idx);
    select(idx, true);
    document.body.classList.remove("panel-open");
  }
  search.addEventListener("input", showResults);
  search.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      var hits = findChannels(search.value);
      if (hits.length) choose(hits[0]);
      else showResults();
    } else if (event.key === "Escape") {
      results.hidden = true;
    }
  });

  // ---- legend ------------------------------------------------------------------------
  var legend = document.getElementById("legend-list");
  function legendRow(id, colour, label, size) {
    var li = el("li", "legend-row");
    var button = el("button", "legend-item");
    button.type = "button";
    button.dataset.community = String(id);
    button.setAttribute("aria-pressed", "true");
    var swatch = el("span", "swatch");
    swatch.style.backgroundColor = colour;
    button.appendChild(swatch);
    button.appendChild(el("span", "legend-label", label));
    button.appendChild(el("span", "legend-size", fmt(size)));
    button.title = "click: hide / show · double-click: show only this community";
    button.addEventListener("click", function () {
      toggleCommunity(id);
    });
    button.addEventListener("dblclick", function () {
      soloCommunity(id);
    });
    var only = el("button", "small legend-only", "only");
    only.type = "button";
    only.dataset.community = String(id);
    only.title = "show only this community and zoom to it";
    only.addEventListener("click", function () {
      soloCommunity(id);
    });
    li.appendChild(button);
    li.appendChild(only);
    legend.appendChild(li);
  }
  comms.forEach(function (c) {
    legendRow(c.id, c.color, c.label, c.size);
  });
  var unclustered = 0;
  for (i = 0; i < n; i++) if (N.community[i] < 0) unclustered++;
  if (unclustered) legendRow(-1, GREY, "unclustered", unclustered);
  function syncLegend() {
    legend.querySelectorAll("button.legend-item").forEach(function (b) {
      var off = state.hiddenCommunities.has(+b.dataset.community);
      b.setAttribute("aria-pressed", off ? "false" : "true");
    });
    if (state.selected !== null && communityHidden(state.selected)) select(null);
    renderer.refresh();
  }
  function zoomTo(id) {
    // Frame the community's nodes (sigma's display coordinates: the whole map is 0..1).
    var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    graph.forEachNode(function (key, attrs) {
      if (attrs.community !== id) return;
      var d = renderer.getNodeDisplayData(key);
      if (!d) return;
      x0 = Math.min(x0, d.x);
      x1 = Math.max(x1, d.x);
      y0 = Math.min(y0, d.y);
      y1 = Math.max(y1, d.y);
    });
    if (x0 === Infinity) return;
    var ratio = Math.max(0.05, Math.min(1, 1.25 * Math.max(x1 - x0, y1 - y0)));
    camera.animate({ x: (x0 + x1) / 2, y: (y0 + y1) / 2, ratio: ratio }, { duration: 400 });
  }
  function soloCommunity(id) {
    state.hiddenCommunities.clear();
    comms.forEach(function (c) {
      if (c.id !== id) state.hiddenCommunities.add(c.id);
    });
    if (id !== -1) state.hiddenCommunities.add(-1);
    syncLegend();
    zoomTo(id);
  }
  function toggleCommunity(id) {
    if (state.hiddenCommunities.has(id)) state.hiddenCommunities.delete(id);
    else state.hiddenCommunities.add(id);
    syncLegend();
  }
  document.getElementById("legend-all").addEventListener("click", function () {
    state.hiddenCommunities.clear();
    syncLegend();
  });
  document.getElementById("legend-none").addEventListener("click", function () {
    comms.forEach(function (c) {
      state.hiddenCommunities.add(c.id);
    });
    state.hiddenCommunities.add(-1);
    syncLegend();
  });

  // ---- colour by community / sub-community (when the run has sub-communities) ----------
  if (subColour) {
    var colourBlock = document.getElementById("colour-block");
    var colourBy = document.getElementById("colour-by");
    colourBlock.hidden = false;
    colourBy.addEventListener("change", function () {
      state.colourBy = colourBy.value;
      renderer.refresh({ skipIndexation: true });
    });
  }

  // ---- edge weight slider ------------------------------------------------------------
  var slider = document.getElementById("weight");
  var sliderText = document.getElementById("weight-value");
  var sorted = Float64Array.from(E.w).sort();
  function applySlider() {
    var p = +slider.value;
    if (p <= 0 || m === 0) {
      state.minWeight = -Infinity;
      sliderText.textContent = "all " + fmt(m) + " links";
    } else {
      var at = Math.min(m - 1, Math.floor((p / 100) * m));
      state.minWeight = sorted[at];
      sliderText.textContent = fmt(m - at) + " strongest links (weight ≥ " + sorted[at].toPrecision(3) + ")";
    }
    renderer.refresh({ skipIndexation: true });
  }
  slider.addEventListener("input", applySlider);
  applySlider();

  // ---- narrow screens: the panel folds away behind a button -----------------------------
  var toggle = document.getElementById("panel-toggle");
  toggle.addEventListener("click", function () {
    var open = document.body.classList.toggle("panel-open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });

  document.getElementById("reset").addEventListener("click", function () {
    select(null);
    camera.animatedReset({ duration: 300 });
  });

  // A small, stable hook for tests and for people poking at the page from the console.
  window.atlas = {
    graph: graph,
    renderer: renderer,
    find: function (key) {
      var i = N.key.indexOf(key);
      return i < 0 ? null : i;
    },
    viewportOf: viewportOf,
    select: function (idx) {
      select(idx, true);
    },
    state: state,
    timings: timings, // milliseconds per start-up stage
  };
  placeNames();
  var initial = fromHash();
  if (initial !== null) select(initial, true);
  document.body.dataset.ready = "true";
})();
