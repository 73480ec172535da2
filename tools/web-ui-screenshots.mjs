// Screenshots of a run in the Temporal Web UI, taken with Debian's Chromium.
// Set-up (once): apt-get install chromium && npm install --prefix /tmp/ui playwright-core
// Use: NODE_PATH=/tmp/ui/node_modules node tools/web-ui-screenshots.mjs UI_URL WORKFLOW_ID RUN_ID OUT_DIR [LABEL ...]
// Writes web-ui-{timeline,event-history,user-metadata}.png (and .txt, the page's text),
// and web-ui-timeline-LABEL.png for each LABEL: the timeline with the item of that label
// clicked, which opens its event's fields under it (e.g. a local activity's summary).
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");
const [ui, workflowId, runId, out, ...labels] = process.argv.slice(2);

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
const run = `${ui}/namespaces/default/workflows/${workflowId}/${runId}`;
for (const [tab, name] of [["Timeline", "timeline"], ["Event History", "event-history"],
                           ["User Metadata", "user-metadata"]]) {
  await page.goto(`${run}/history`, { waitUntil: "networkidle" });
  await page.getByText(tab, { exact: true }).first().click();
  await page.waitForTimeout(2500);
  if (name === "event-history") {
    // The events scroll inside the page's main panel, which a full-page shot does not
    // extend; scroll the table's heading to the top so the events fill the picture.
    await page.getByRole("heading", { name: "Event History" }).first()
      .evaluate((heading) => heading.scrollIntoView({ block: "start" }));
    await page.waitForTimeout(500);
  }
  await page.screenshot({ path: `${out}/web-ui-${name}.png`, fullPage: true });
  writeFileSync(`${out}/web-ui-${name}.txt`, await page.innerText("body"));
}
for (const label of labels) {
  await page.goto(`${run}/history`, { waitUntil: "networkidle" });
  await page.getByText("Timeline", { exact: true }).first().click();
  await page.waitForTimeout(2500);
  await page.getByText(label, { exact: true }).and(page.locator(":visible")).first().click();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `${out}/web-ui-timeline-${label}.png`, fullPage: true });
  writeFileSync(`${out}/web-ui-timeline-${label}.txt`, await page.innerText("body"));
}
await browser.close();
