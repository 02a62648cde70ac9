// Opens an HTML report in headless Chromium (Debian's chromium, driven by playwright-core from
// tests/js) and prints what a reader sees: console errors, failed requests, and each chart's
// drawn series.
//   node report_check.mjs FILE.html   prints {"errors": [...], "charts": [{label, lines, points,
//                                      width, height}], "cells": N, "title": "..."}
import { chromium } from '../js/node_modules/playwright-core/index.mjs';
import { pathToFileURL } from 'node:url';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
const errors = [];
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  page.on('request', (r) => { if (!r.url().startsWith('file:')) errors.push(`fetched: ${r.url()}`); });
  await page.goto(pathToFileURL(process.argv[2]).href, { waitUntil: 'load' });
  const seen = await page.evaluate(() => ({
    title: document.title,
    cells: document.querySelectorAll('svg.confusion rect.cell').length,
    charts: [...document.querySelectorAll('svg.chart')].map((svg) => {
      const box = svg.getBoundingClientRect();
      const lines = [...svg.querySelectorAll('polyline')];
      return {
        label: svg.getAttribute('aria-label'),
        lines: lines.length,
        points: lines.reduce((n, l) => n + l.points.numberOfItems, 0),
        drawn: lines.reduce((n, l) => n + l.getTotalLength(), 0),
        width: box.width,
        height: box.height,
      };
    }),
  }));
  console.log(JSON.stringify({ errors, ...seen }));
} finally {
  await browser.close();
}
