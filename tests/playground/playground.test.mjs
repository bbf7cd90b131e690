// End-to-end test of `podscale serve` in headless Chromium (Debian's /usr/bin/chromium via playwright-core):
// load the page, wait for the first plot, move a slider, check the replica curve changed, screenshot.
// Usage: node playground.test.mjs <podscale binary> <screenshot.png>
import { spawn } from "node:child_process";
import { test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const bin = process.argv[2] ?? "target/release/podscale";
const shot = process.argv[3] ?? "playground.png";

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["serve", "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error("server did not start: " + out)), 20000);
    child.stdout.on("data", d => {
      out += d;
      const m = out.match(/http:\/\/(127\.0\.0\.1:\d+)\//);
      if (m) { clearTimeout(timer); resolve({ child, url: `http://${m[1]}/` }); }
    });
    child.on("exit", code => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

test("playground: a slider move redraws the replica curve", async () => {
  const { child, url } = await startServer();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
    const external = [];
    page.on("request", r => { if (!r.url().startsWith(url)) external.push(r.url()); });
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById("plots").dataset.runs === "1");
    const before = await page.$eval("#replicas", c => c.dataset.readyPodSeconds);
    const pixelsBefore = await page.$eval("#replicas", c => c.toDataURL());
    // quickstart: a max scale-up rate of 1.1 slows the scale-out for the burst visibly.
    const slider = page.locator("#s-scale-up");
    await slider.focus();
    await slider.evaluate(el => { el.value = "1.1"; el.dispatchEvent(new Event("input", { bubbles: true })); });
    await page.waitForFunction(() => document.getElementById("plots").dataset.runs === "2");
    const after = await page.$eval("#replicas", c => c.dataset.readyPodSeconds);
    const pixelsAfter = await page.$eval("#replicas", c => c.toDataURL());
    const redrawMs = await page.$eval("#plots", p => Number(p.dataset.redrawMs));
    const serverMs = await page.$eval("#plots", p => Number(p.dataset.serverMs));
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`playground: ready pod-seconds ${before} -> ${after}; redraw ${redrawMs} ms (server ${serverMs} ms)`);
    assert.notEqual(after, before, "the replica curve did not change");
    assert.notEqual(pixelsAfter, pixelsBefore, "the canvas was not redrawn");
    assert.ok(redrawMs < 1000, `one slider move took ${redrawMs} ms to redraw`);
    const status = await page.textContent("#status");
    assert.match(status, /redrawn in/);
    const href = await page.getAttribute("#download", "href");
    assert.match(href, /^blob:/, "the download link has the scenario");
    assert.deepEqual(external, [], "the page fetched something outside the server");
  } finally {
    await browser.close();
    child.kill();
  }
});
