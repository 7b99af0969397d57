//! The page's own style sheet and script, inlined into every report. The script only sorts
//! tables and opens or closes every example at once; the page reads the same without it.

/// Base64 SHA-256 of [`SCRIPT`] (a unit test keeps it in step with the script).
macro_rules! script_sha256 {
    () => {
        "P9Kpc9nsj/Uwm0VHk+f3AfgQrsgXZ4n9gknQTRbaumY="
    };
}

/// Content-Security-Policy of every report: nothing loads from anywhere, only our inline style
/// and the one script whose hash is [`SCRIPT_SHA256`] run, images only as `data:` URLs.
pub const CSP: &str = concat!(
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-",
    script_sha256!(),
    "'; base-uri 'none'; form-action 'none'"
);

/// Base64 SHA-256 of [`SCRIPT`], as the CSP names it.
#[cfg(test)]
pub const SCRIPT_SHA256: &str = script_sha256!();

/// The style sheet.
pub const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--card:#fff;--accent:#0969da;
--fail:#cf222e;--pass:#8c959f;--ok:#1a7f37;--warn:#9a6700;--band:rgba(207,34,46,.12)}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI","Noto Sans",Helvetica,Arial,sans-serif;color:var(--fg);background:var(--soft)}
header.top{background:#24292f;color:#fff;padding:14px 32px;display:flex;align-items:baseline;gap:16px;flex-wrap:wrap}
header.top .brand{font-weight:700;font-size:16px;letter-spacing:.3px}
header.top .what{color:#d1d9e0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;overflow-wrap:anywhere}
nav.toc{background:#fff;border-bottom:1px solid var(--line);padding:8px 32px;display:flex;gap:18px;flex-wrap:wrap;font-size:13px}
nav.toc a{color:var(--accent);text-decoration:none}
nav.toc a:hover{text-decoration:underline}
main{max-width:1180px;margin:0 auto;padding:24px 32px 48px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:20px 24px;margin:0 0 20px}
h1{font-size:20px;margin:0 0 14px;font-weight:600;overflow-wrap:anywhere}
h2{font-size:16px;margin:0 0 12px;font-weight:600}
h3{font-size:14px;margin:16px 0 8px;font-weight:600}
p{margin:6px 0}
.muted{color:var(--muted)}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:4px 0 18px}
.stat{border:1px solid var(--line);border-radius:6px;padding:10px 14px;background:var(--soft)}
.stat .label{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.4px}
.stat .value{font-size:22px;font-weight:600;margin-top:2px;overflow-wrap:anywhere}
.stat .sub{font-size:12px;color:var(--muted)}
.stat.bad .value{color:var(--fail)}
.stat.good .value{color:var(--ok)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:anywhere}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
code{background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:0 4px;overflow-wrap:anywhere}
pre{background:#0d1117;color:#e6edf3;border-radius:6px;padding:12px 14px;overflow:auto;max-height:560px;white-space:pre;margin:8px 0}
pre.excerpt{max-height:260px}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;border:1px solid var(--line);background:var(--soft);color:var(--muted)}
.badge.bad{background:#ffebe9;border-color:#ffcecb;color:var(--fail)}
.badge.good{background:#dafbe1;border-color:#aceebb;color:var(--ok)}
.badge.warn{background:#fff8c5;border-color:#eedf99;color:var(--warn)}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);font-weight:600;white-space:nowrap}
th[data-sort]{cursor:pointer}
th[data-sort]:after{content:" \2195";color:var(--muted);font-weight:400}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.sig{overflow-wrap:anywhere;min-width:280px}
td.nowrap{white-space:nowrap}
tr.cluster td{border-bottom:none}
tr.detail td{padding-top:0}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:baseline}
.share{display:inline-block;height:8px;background:var(--fail);border-radius:2px;vertical-align:middle;margin-left:6px;opacity:.7}
details{margin:4px 0}
details>summary{cursor:pointer;color:var(--accent);font-size:13px}
.note{font-size:12px;color:var(--muted);margin:4px 0}
.verdict{border-left:4px solid var(--accent);background:#ddf4ff;padding:8px 12px;border-radius:4px;margin:0 0 14px}
.verdict.bad{border-color:var(--fail);background:#ffebe9}
.verdict.good{border-color:var(--ok);background:#dafbe1}
.charts{display:grid;grid-template-columns:1fr;gap:18px}
figure{margin:0}
figcaption{font-size:13px;color:var(--muted);margin:4px 0 0}
svg{display:block;max-width:100%;height:auto}
svg text{font:11px -apple-system,BlinkMacSystemFont,"Segoe UI","Noto Sans",Helvetica,Arial,sans-serif;fill:#59636e}
svg .axis{stroke:#8c959f;stroke-width:1}
svg .grid{stroke:#eaeef2;stroke-width:1}
svg .fail{fill:var(--fail)}
svg .pass{fill:var(--pass)}
svg .mean{stroke:var(--fail);stroke-width:1;stroke-dasharray:4 3}
svg .whisker{stroke:#24292f;stroke-width:1.2}
svg .curve{fill:none;stroke:var(--accent);stroke-width:1.6}
svg .window{fill:var(--band)}
svg .edge{fill:rgba(207,34,46,.06)}
svg .best{fill:var(--ok)}
svg .trace{fill:none;stroke-width:1.8}
svg .hollow{fill:#fff;stroke:#59636e;stroke-width:1.2}
.legend{font-size:12px;color:var(--muted);display:flex;gap:14px;flex-wrap:wrap;margin:4px 0}
.toolbar{float:right;display:flex;gap:8px}
.toolbar button{font:inherit;font-size:12px;border:1px solid var(--line);background:var(--soft);border-radius:6px;padding:2px 10px;cursor:pointer}
.heat td.cell{text-align:center;font-variant-numeric:tabular-nums;min-width:28px;padding:4px 2px}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:8px}
@media print{nav.toc,.toolbar{display:none}section{break-inside:avoid}}
"#;

/// The script: sortable tables, and buttons that open or close every `<details>` of a section.
pub const SCRIPT: &str = r#"
document.documentElement.dataset.js = "on";
for (const table of document.querySelectorAll("table.sortable")) {
  const heads = table.querySelectorAll("th[data-sort]");
  heads.forEach((th, column) => th.addEventListener("click", () => {
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const numeric = th.dataset.sort === "num";
    const down = th.dataset.dir !== "down";
    heads.forEach(h => delete h.dataset.dir);
    th.dataset.dir = down ? "down" : "up";
    const key = row => {
      const cell = row.cells[th.cellIndex];
      const text = cell ? (cell.dataset.key || cell.textContent) : "";
      return numeric ? parseFloat(text) || 0 : text;
    };
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return down ? -order : order;
    });
    rows.forEach(row => body.appendChild(row));
  }));
}
for (const button of document.querySelectorAll("button[data-details]")) {
  button.addEventListener("click", () => {
    const open = button.dataset.details === "open";
    const scope = button.closest("section");
    scope.querySelectorAll("details").forEach(d => { d.open = open; });
  });
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use sha2::Digest;

    #[test]
    fn the_policy_allows_exactly_our_script() {
        let digest = sha2::Sha256::digest(SCRIPT.as_bytes());
        let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
        assert_eq!(
            encoded, SCRIPT_SHA256,
            "the script changed: put its new hash in SCRIPT_SHA256 and CSP"
        );
        assert!(CSP.contains(&format!("'sha256-{SCRIPT_SHA256}'")));
        assert!(CSP.starts_with("default-src 'none';"));
    }
}
