/**
 * The dashboard in a real headless Chromium against the whole platform (PostgreSQL, Redis, RabbitMQ and
 * the Socket.IO relay): register and sign in through the page, add a device and read its token from the
 * once-only dialog, open it, send telemetry as the device, and see the value arrive live; then its forecast,
 * alerts, configuration and commands, with the device answering over HTTP; then what a newcomer meets
 * (issue 13): a chart per key with gaps kept, relative times that tick, plain-words form errors, the fleet
 * overview, and the device list at phone size (390×844).
 * Screenshots in test-output/dashboard.png, dashboard-forecast.png and dashboard-config-commands.png, and
 * at desktop and phone size in test-output/screenshots/ (printed as they are taken).
 *
 * The steps share one page and run in order. Every wait is bounded (uvu has no timeouts).
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { goodPassword, randomEmail, startPlatform, type TestPlatform } from './support/platform.ts';
import { chromiumMissing, launchChromium, within } from './support/browser.ts';
import { commandIds, configIds, ids, testIds } from '../dashboard/src/ids.ts';
import { labelOfPath, plainFieldError } from '../dashboard/src/field-errors.ts';
import { withGaps } from '../dashboard/src/series-gaps.ts';

const waitMs = 15_000;
const ctx: { platform?: TestPlatform; browser?: Browser; page?: Page; token?: string; deviceId?: string; pageErrors: string[]; consoleErrors: string[] } = {
  pageErrors: [],
  consoleErrors: [],
};
const desktop = { width: 1280, height: 900 };
const phone = { width: 390, height: 844 };
const screenshotDir = 'test-output/screenshots';

/** A full-page screenshot under test-output/screenshots/, its path printed so a reader can open it. */
async function keepScreenshot(name: string): Promise<void> {
  await mkdir(screenshotDir, { recursive: true });
  const path = `${screenshotDir}/${name}.png`;
  await page().evaluate(() => window.scrollTo(0, 0));
  await page().screenshot({ path, fullPage: true });
  console.log(`  screenshot: ${resolve(path)}`);
}

/** The box of the first element matching `selector`, as the page lays it out. */
function boxOf(selector: string) {
  return page().$eval(selector, (element) => {
    const box = element.getBoundingClientRect();
    return { left: box.left, right: box.right, width: box.width, height: box.height };
  });
}

/** The box and text of a row's cell in the column headed `heading` (found by its header, not by markup the test assumes). */
function cellOf(row: string, heading: string) {
  return page().$eval(
    row,
    (tr, name) => {
      const headings = [...(tr.closest('table')?.querySelectorAll('thead th') ?? [])].map((th) => th.textContent?.trim().toLowerCase());
      const cell = (tr as HTMLTableRowElement).cells[headings.indexOf(name.toLowerCase())];
      if (!cell) return undefined;
      const box = cell.getBoundingClientRect();
      const style = getComputedStyle(cell);
      return { left: box.left, right: box.right, width: box.width, height: box.height, text: cell.textContent ?? '', shown: style.visibility !== 'hidden' && style.display !== 'none' };
    },
    heading,
  );
}
const page = () => ctx.page!;
const email = randomEmail('dashboard');
const $ = (id: string) => `#${id}`;

/** The hooks of the Configuration and Commands cards, from the same file the cards take them from. */
const cardIds = {
  configCard: configIds.card,
  configSync: configIds.syncBadge,
  configEditor: configIds.editor,
  configEditorMessage: configIds.editorMessage,
  configSave: configIds.save,
  configRevert: configIds.revert,
  configSaveError: configIds.saveError,
  configReported: configIds.reported,
  commandsCard: commandIds.card,
  commandName: commandIds.name,
  commandParams: commandIds.params,
  commandTimeout: commandIds.timeout,
  commandSubmit: commandIds.submit,
  commandsEmpty: commandIds.empty,
  commandsMore: commandIds.more,
  commandRow: commandIds.row,
  commandStatus: commandIds.status,
};

/** A call to the API as the signed-in user, with the access token the page holds. */
async function userCall(method: string, path: string, body?: unknown): Promise<Response> {
  const token = await page().evaluate(() => (JSON.parse(sessionStorage.getItem('iotfn.session') ?? '{}') as { accessToken?: string }).accessToken ?? '');
  return fetch(`${ctx.platform!.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(waitMs),
  });
}

/** A call to the API as the device, with its token. */
function deviceCall(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${ctx.platform!.url}${path}`, {
    method,
    headers: { authorization: `Device ${ctx.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(waitMs),
  });
}

const dashboard = suite('dashboard');
const missing = chromiumMissing();

if (missing) {
  console.log(`dashboard: skipped, ${missing}`);
  dashboard.skip('the dashboard in headless Chromium');
} else {
  dashboard.before(async () => {
    ctx.platform = await within(60_000, 'starting the platform', startPlatform());
    ctx.browser = await launchChromium();
    const context = await ctx.browser.newContext({ viewport: desktop, locale: 'en-US', colorScheme: 'light' });
    ctx.page = await context.newPage();
    ctx.page.setDefaultTimeout(waitMs);
    ctx.page.setDefaultNavigationTimeout(waitMs);
    ctx.page.on('pageerror', (error) => ctx.pageErrors.push(error.message));
    ctx.page.on('console', (message) => {
      if (message.type() === 'error') ctx.consoleErrors.push(message.text());
    });
  });

  dashboard.after(async () => {
    await within(15_000, 'closing the browser', ctx.browser?.close() ?? Promise.resolve()).catch((error: unknown) => console.error(error));
    await within(30_000, 'stopping the platform', ctx.platform?.close() ?? Promise.resolve()).catch((error: unknown) => console.error(error));
  });

  dashboard('/ serves the page, and a signed-out visitor gets the sign-in form', async () => {
    const response = await page().goto(`${ctx.platform!.url}/`);
    assert.is(response?.status(), 200, 'GET / answers the dashboard');
    await page().waitForSelector($(ids.loginForm));
    assert.ok(await page().isHidden($(ids.header)), 'no app header before signing in');
  });

  dashboard('registering shows the API\'s field errors, then succeeds', async () => {
    await page().click($(ids.goRegister));
    await page().fill($(ids.registerEmail), email);
    await page().fill($(ids.registerPassword), 'short');
    await page().click($(ids.registerSubmit));
    const fieldError = await page().waitForSelector(`${$(ids.registerPassword)}-error:visible`);
    assert.ok((await fieldError.textContent())?.trim(), 'the password error sits under the field');
    assert.is(await page().getAttribute($(ids.registerPassword), 'aria-invalid'), 'true');

    await page().fill($(ids.registerPassword), goodPassword);
    await page().fill($(ids.registerName), 'Dana Board');
    await page().click($(ids.registerSubmit));
    await page().waitForSelector($(ids.authNotice));
    assert.is(await page().inputValue($(ids.loginEmail)), email, 'the sign-in form starts with the new email');
  });

  dashboard('signing in opens the empty device list', async () => {
    await page().fill($(ids.loginPassword), goodPassword);
    await page().click($(ids.loginSubmit));
    await page().waitForSelector($(ids.devicesEmpty));
    assert.is((await page().textContent($(ids.userEmail)))?.trim(), email);
    await page().waitForSelector(`${$(ids.connectionState)}[data-state="connected"]`);
  });

  dashboard('the Add device form marks Type as required, offers examples, and says an empty Type in plain words', async () => {
    await page().click($(ids.addDeviceButton));
    await page().waitForSelector(`${$(ids.deviceDialog)}[open]`);
    try {
      const typeLabel = `label[for="${ids.deviceFormType}"]`;
      assert.ok(await page().$(`${typeLabel} .required`), 'the Type label carries the required mark');
      assert.not.ok(await page().$(`${typeLabel} .optional`), 'and is not called optional');
      assert.is(await page().getAttribute($(ids.deviceFormType), 'required'), '', 'the Type input is required');
      assert.ok(await page().$(`label[for="${ids.deviceFormTags}"] .optional`), 'Tags is marked optional');
      for (const id of [ids.deviceFormName, ids.deviceFormType, ids.deviceFormTags]) {
        assert.match((await page().getAttribute($(id), 'placeholder')) ?? '', /^e\.g\. /, `the placeholder of #${id} reads as an example`);
      }

      await page().fill($(ids.deviceFormName), 'Nameless type');
      await page().click($(ids.deviceFormSubmit));
      const typeError = await page().waitForSelector(`${$(ids.deviceFormType)}-error:visible`);
      assert.is((await typeError.textContent())?.trim(), 'Type is required.');
      assert.is(await page().getAttribute($(ids.deviceFormType), 'aria-invalid'), 'true');
      const formError = (await page().textContent($(ids.deviceFormError)))?.trim() ?? '';
      assert.is(formError, 'Type is required.', 'the message above the form names the field too');
      assert.not.match(formError, /Too small|body\.|characters/);
      await keepScreenshot('desktop-add-device-error');
    } finally {
      // Closed whatever happened, so the steps after this one start from the list.
      await page().click($(ids.deviceFormCancel));
      await page().waitForSelector($(ids.deviceDialog), { state: 'detached' });
    }
    assert.ok(await page().isVisible($(ids.devicesEmpty)), 'nothing was added: the list is still empty');
  });

  dashboard('adding a device shows its token once, with a curl line that uses it', async () => {
    await page().click($(ids.addDeviceButton));
    await page().fill($(ids.deviceFormName), 'Greenhouse sensor');
    await page().fill($(ids.deviceFormType), 'thermometer');
    await page().fill($(ids.deviceFormTags), 'greenhouse, north');
    await page().click($(ids.deviceFormSubmit));
    await page().waitForSelector(`${$(ids.tokenDialog)}[open]`);
    const token = (await page().textContent($(ids.deviceToken)))?.trim() ?? '';
    assert.match(token, /^dt_[A-Za-z0-9_-]{20,}$/);
    const curl = (await page().textContent($(ids.tokenCurl))) ?? '';
    assert.ok(curl.includes(`${ctx.platform!.url}/telemetry`) && curl.includes(`authorization: Device ${token}`), curl);
    ctx.token = token;

    await page().click($(ids.tokenDialogClose));
    await page().waitForSelector($(ids.tokenDialog), { state: 'detached' });
    const row = await page().waitForSelector(`[data-testid="${testIds.deviceRow}"]`);
    ctx.deviceId = (await row.getAttribute('data-device-id')) ?? undefined;
    assert.ok(ctx.deviceId);
    assert.is(await row.$eval(`[data-testid="${testIds.onlineBadge}"]`, (badge) => badge.getAttribute('data-online')), 'false');
  });

  dashboard('the device page shows telemetry sent by the device live', async () => {
    ctx.consoleErrors.length = 0;
    await page().click(`[data-testid="${testIds.deviceLink}"]`);
    await page().waitForSelector(`${$(ids.deviceView)}[data-live="on"]`);
    await page().waitForSelector($(ids.latestEmpty));
    assert.is((await page().textContent($(ids.deviceTitle)))?.trim(), 'Greenhouse sensor');

    const sent = await fetch(`${ctx.platform!.url}/telemetry`, {
      method: 'POST',
      headers: { authorization: `Device ${ctx.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ values: { temperature: 23.5 } }),
      signal: AbortSignal.timeout(waitMs),
    });
    assert.is(sent.status, 202, await sent.text());

    const value = page().locator(`[data-testid="${testIds.latestValue}"][data-key="temperature"]`);
    await value.filter({ hasText: '23.5' }).waitFor();
    await page().waitForSelector(`${$(ids.liveChart)}[data-points="1"] canvas`);
    await page().waitForSelector(`${$(ids.deviceView)} [data-testid="${testIds.onlineBadge}"][data-online="true"]`);

    await mkdir('test-output', { recursive: true });
    await page().screenshot({ path: 'test-output/dashboard.png', fullPage: true });
  });

  dashboard('with one point, the Forecast card says in plain words how much history it needs, and nothing is logged as an error', async () => {
    await page().waitForSelector($(ids.forecastCard));
    assert.is(await page().inputValue($(ids.forecastKey)), 'temperature', 'the key picker starts on temperature');
    await page().waitForSelector(`${$(ids.forecastCard)}[data-state="empty"]`);
    const detail = (await page().textContent(`${$(ids.forecastEmpty)} .muted`))?.trim() ?? '';
    assert.match(detail, /^Not enough history yet to forecast temperature: needs 3 points .* and has 0\./);
    assert.not.match(detail, /query\.key|nothing to forecast from/, 'not the validator\'s words');
    assert.not.ok(await page().$($(ids.forecastError)), 'no error shown');
    assert.equal(ctx.consoleErrors, [], 'console errors since the device page opened');
    assert.equal(ctx.pageErrors, []);
    await keepScreenshot('desktop-device-first-value');
  });

  dashboard('relative times tick: the latest value\'s time changes within a few seconds without a reload', async () => {
    // The Time column of the row: its last cell.
    const time = `[data-testid="${testIds.latestRow}"][data-key="temperature"] > td:last-child`;
    await page().waitForSelector(time);
    const before = (await page().textContent(time))?.trim() ?? '';
    await page().waitForFunction(
      ([selector, text]) => document.querySelector(selector!)?.textContent?.trim() !== text,
      [time, before],
      { timeout: 5000 },
    );
    const after = (await page().textContent(time))?.trim() ?? '';
    assert.match(after, /second|minute/, `${before} → ${after}`);
  });

  dashboard('History draws one chart per key, each on its own scale, and leaves a stretch with no data as a gap', async () => {
    const minute = 60_000;
    const now = Date.now();
    // Two runs of ten minutes with half an hour of silence between; a counter in the thousands beside a temperature.
    const times = [...Array.from({ length: 10 }, (_, i) => now - (50 - i) * minute), ...Array.from({ length: 10 }, (_, i) => now - (9 - i) * minute - 5000)];
    const points = times.map((ts, i) => ({ ts, values: { temperature: 20 + (i % 3) * 0.5, counter: 1000 + i * 10 } }));
    const sent = await deviceCall('POST', '/telemetry', points);
    assert.is(sent.status, 202, await sent.text());

    const chart = (key: string) => `${$(ids.historyChart)} [data-chart-key="${key}"]`;
    const deadline = Date.now() + waitMs;
    let gaps = 0;
    while (Date.now() < deadline) {
      await page().click($(ids.historyRefresh));
      await page().waitForSelector(`${$(ids.historyChart)}[data-keys="counter,temperature"]`, { timeout: 2000 }).catch(() => undefined);
      gaps = Number((await page().$(chart('temperature'))) ? await page().getAttribute(chart('temperature'), 'data-gaps') : 0);
      if (gaps > 0 && Number(await page().getAttribute(chart('counter'), 'data-points')) >= 20) break;
      await page().waitForTimeout(300);
    }
    assert.is(await page().locator(`${$(ids.historyChart)} .uplot`).count(), 2, 'a chart for each of counter and temperature');
    assert.ok(gaps >= 1, `the temperature chart has a null in its data where the half hour of silence is (data-gaps=${gaps})`);
    assert.ok(Number(await page().getAttribute(chart('counter'), 'data-gaps')) >= 1, 'and so does the counter');
    const yMax = async (key: string) => Number(await page().getAttribute(chart(key), 'data-y-max'));
    const yMin = async (key: string) => Number(await page().getAttribute(chart(key), 'data-y-min'));
    assert.ok((await yMax('temperature')) < 100, `temperature is on a scale of its own (up to ${await yMax('temperature')})`);
    assert.ok((await yMin('counter')) > 100, `the counter's scale starts near its values (${await yMin('counter')})`);
    // The live chart draws the same way: one chart per key that arrived live.
    await page().waitForSelector(`${$(ids.liveChart)} [data-chart-key="counter"] canvas`);
    await page().waitForSelector(`${$(ids.liveChart)} [data-chart-key="temperature"] canvas`);
  });

  dashboard('with three days of hourly history the Forecast card charts a forecast and its band', async () => {
    const hour = 3_600_000;
    const current = Math.floor(Date.now() / hour) * hour;
    const points = Array.from({ length: 72 }, (_, i) => {
      const ts = current - (72 - i) * hour + hour / 2;
      return { ts, values: { temperature: Math.round((21 + 3 * Math.sin((2 * Math.PI * ts) / (24 * hour)) + 0.3 * Math.sin(i * 7.3)) * 100) / 100 } };
    });
    const sent = await fetch(`${ctx.platform!.url}/telemetry`, {
      method: 'POST',
      headers: { authorization: `Device ${ctx.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(points),
      signal: AbortSignal.timeout(waitMs),
    });
    assert.is(sent.status, 202, await sent.text());
    // The points are stored asynchronously: ask again (by changing the horizon) until the seasonal model fits.
    const deadline = Date.now() + waitMs;
    let model = '';
    for (let i = 0; !model.includes('holt-winters') && Date.now() < deadline; i++) {
      await page().selectOption($(ids.forecastHorizon), i % 2 ? '24h' : '48h');
      await page().waitForSelector(`${$(ids.forecastCard)}:not([data-state="loading"])`);
      model = (await page().$($(ids.forecastModel))) ? ((await page().textContent($(ids.forecastModel))) ?? '') : '';
      if (!model.includes('holt-winters')) await page().waitForTimeout(500);
    }
    assert.match(model, /holt-winters/);
    await page().waitForSelector(`${$(ids.forecastChart)} canvas`);
    await page().evaluate(() => window.scrollTo(0, 0));
    await page().screenshot({ path: 'test-output/dashboard-forecast.png', fullPage: true });
  });

  dashboard('a rule added in the Alerts card opens an alert live, and it can be acknowledged', async () => {
    await page().fill($(ids.ruleKey), 'humidity');
    await page().selectOption($(ids.ruleOp), 'gt');
    await page().fill($(ids.ruleValue), '50');
    await page().click($(ids.ruleSubmit));
    await page().waitForSelector(`${$(ids.ruleError)}[hidden]`, { state: 'attached' });
    await page().waitForFunction((id) => (document.querySelector(`#${id}`) as HTMLInputElement | null)?.value === '', ids.ruleKey);

    const sent = await fetch(`${ctx.platform!.url}/telemetry`, {
      method: 'POST',
      headers: { authorization: `Device ${ctx.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ values: { humidity: 61 } }),
      signal: AbortSignal.timeout(waitMs),
    });
    assert.is(sent.status, 202, await sent.text());
    await page().waitForSelector(`[data-testid="${testIds.alertRow}"][data-state="open"]`);
    await page().click(`[data-testid="${testIds.alertAck}"]`);
    await page().locator(`[data-testid="${testIds.alertRow}"]`).filter({ hasText: 'Acknowledged' }).waitFor();
  });

  dashboard('the Configuration card checks JSON as it is typed, saves with If-Match, reloads on a 412 and shows the device in sync live', async () => {
    const card = $(cardIds.configCard);
    await page().waitForSelector(`${card}[data-state="ready"][data-desired-version="0"]`);
    await page().waitForSelector(`${$(cardIds.configSync)}[data-in-sync="false"]`);
    assert.match((await page().textContent($(cardIds.configSync))) ?? '', /Not in sync \(no report from the device yet, desired 0\)/);

    const editor = $(cardIds.configEditor);
    const message = () => page().textContent($(cardIds.configEditorMessage)).then((text) => text ?? '');
    await page().fill(editor, '{"sampleSeconds": 30,');
    assert.match(await message(), /^Not valid JSON at line 1, column \d+: /);
    assert.ok(await page().isDisabled($(cardIds.configSave)), 'Save is off while the JSON is broken');
    await page().fill(editor, '[1, 2]');
    assert.match(await message(), /has to be an object/);
    assert.ok(await page().isDisabled($(cardIds.configSave)), 'Save is off for JSON that is not an object');
    await page().fill(editor, '{"sampleSeconds": 30, "led": "green"}');
    assert.ok(await page().isEnabled($(cardIds.configSave)));
    await page().click($(cardIds.configSave));
    await page().waitForSelector(`${card}[data-desired-version="1"]`);
    const saved = await userCall('GET', `/devices/${ctx.deviceId}/config`);
    assert.is(saved.status, 200);
    const view = (await saved.json()) as { desired: { version: number; config: unknown } };
    assert.is(view.desired.version, 1);
    assert.equal(view.desired.config, { sampleSeconds: 30, led: 'green' });

    // Someone else saves while this page has unsaved edits: Save answers 412, and the card reloads.
    await page().fill(editor, '{"sampleSeconds": 10}');
    const elsewhere = await userCall('PUT', `/devices/${ctx.deviceId}/config`, { config: { sampleSeconds: 60, led: 'blue' } });
    assert.is(elsewhere.status, 200, await elsewhere.text());
    await page().waitForSelector(`${card}[data-desired-version="2"]`);
    assert.is(await page().inputValue(editor), '{"sampleSeconds": 10}', 'a live update does not throw away unsaved edits');
    await page().click($(cardIds.configSave));
    await page().locator($(cardIds.configSaveError)).filter({ hasText: 'changed elsewhere — reloaded' }).waitFor();
    assert.equal(JSON.parse(await page().inputValue(editor)), { sampleSeconds: 60, led: 'blue' });

    await page().fill(editor, JSON.stringify({ blob: 'x'.repeat(70_000) }));
    await page().click($(cardIds.configSave));
    await page().locator($(cardIds.configSaveError)).filter({ hasText: 'too large' }).waitFor();
    await page().click($(cardIds.configRevert));
    assert.equal(JSON.parse(await page().inputValue(editor)), { sampleSeconds: 60, led: 'blue' });
    assert.is((await (await userCall('GET', `/devices/${ctx.deviceId}/config`)).json()).desired.version, 2, 'neither failed save stored anything');

    const reported = await deviceCall('PUT', '/device/state', { version: 2, state: { sampleSeconds: 60, led: 'blue', firmware: '1.4.2' } });
    assert.is(reported.status, 204, await reported.text());
    await page().waitForSelector(`${$(cardIds.configSync)}[data-in-sync="true"]`);
    assert.is((await page().textContent($(cardIds.configSync)))?.trim(), 'In sync');
    assert.match((await page().textContent($(cardIds.configReported))) ?? '', /"firmware": "1\.4\.2"/);
  });

  dashboard('a command sent from the Commands card appears at once and follows the device live to succeeded', async () => {
    await page().waitForSelector(`${$(cardIds.commandsCard)}[data-state="ready"]`);
    await page().waitForSelector($(cardIds.commandsEmpty));
    await page().fill($(cardIds.commandName), 'reboot');
    await page().fill($(cardIds.commandParams), '{"delaySeconds": ');
    assert.ok(await page().isDisabled($(cardIds.commandSubmit)), 'Send is off while the params are broken');
    await page().fill($(cardIds.commandParams), '{"delaySeconds": 5}');
    await page().fill($(cardIds.commandTimeout), '120');
    await page().click($(cardIds.commandSubmit));
    const row = await page().waitForSelector(`[data-testid="${cardIds.commandRow}"]:is([data-status="queued"], [data-status="sent"])`);
    const commandId = (await row.getAttribute('data-command-id')) ?? '';
    assert.match((await row.textContent()) ?? '', /reboot/);
    const rowOf = (status: string) => `[data-testid="${cardIds.commandRow}"][data-command-id="${commandId}"][data-status="${status}"]`;

    const taken = await deviceCall('GET', '/device/commands');
    assert.is(taken.status, 200);
    const pending = ((await taken.json()) as { commands: { id: string; params: unknown }[] }).commands;
    assert.equal(pending.map((c) => [c.id, c.params]), [[commandId, { delaySeconds: 5 }]]);
    await page().waitForSelector(rowOf('sent'));

    const answered = await deviceCall('POST', `/device/commands/${commandId}/result`, { status: 'succeeded', result: { rebooted: true } });
    assert.is(answered.status, 200, await answered.text());
    await page().waitForSelector(rowOf('succeeded'));
    assert.is((await page().textContent(`${rowOf('succeeded')} [data-testid="${cardIds.commandStatus}"]`))?.trim(), 'Succeeded');
    assert.match((await page().textContent(`${rowOf('succeeded')} .command-result`)) ?? '', /"rebooted":true/);

    await page().evaluate(() => window.scrollTo(0, 0));
    const clip = await page().evaluate(() => {
      const boxes = ['panel-configuration', 'panel-commands'].map((id) => document.getElementById(id)!.closest('section')!.getBoundingClientRect());
      const top = Math.min(...boxes.map((b) => b.top)) + window.scrollY - 12;
      const bottom = Math.max(...boxes.map((b) => b.bottom)) + window.scrollY + 12;
      const left = Math.min(...boxes.map((b) => b.left)) - 12;
      const right = Math.max(...boxes.map((b) => b.right)) + 12;
      return { x: Math.max(0, left), y: Math.max(0, top), width: right - Math.max(0, left), height: bottom - Math.max(0, top) };
    });
    await page().screenshot({ path: 'test-output/dashboard-config-commands.png', fullPage: true, clip });
  });

  dashboard('the Commands card lists the first page of commands and "More" brings the rest', async () => {
    for (let i = 0; i < 10; i++) {
      const sent = await userCall('POST', `/devices/${ctx.deviceId}/commands`, { name: `ping.${i}` });
      assert.is(sent.status, 202, await sent.text());
    }
    await page().reload();
    await page().waitForSelector(`${$(cardIds.commandsCard)}[data-state="ready"]`);
    const rows = page().locator(`[data-testid="${cardIds.commandRow}"]`);
    assert.is(await rows.count(), 10);
    assert.match((await rows.first().textContent()) ?? '', /ping\.9/, 'newest first');
    await page().click($(cardIds.commandsMore));
    await page().waitForSelector(`[data-testid="${cardIds.commandRow}"][data-status="succeeded"]`);
    assert.is(await rows.count(), 11);
    await page().waitForSelector($(cardIds.commandsMore), { state: 'hidden' });
  });

  dashboard('the fleet overview counts the devices, online and offline, by type, and the open alerts', async () => {
    for (const [name, type] of [['Cellar hygrometer', 'hygrometer'], ['Attic hygrometer', 'hygrometer'], ['Porch thermometer', 'thermometer']] as const) {
      const added = await userCall('POST', '/devices', { name, type });
      assert.is(added.status, 201, await added.text());
    }
    await page().goto(`${ctx.platform!.url}/#/devices`);
    await page().waitForSelector(`[data-testid="${testIds.deviceRow}"]`);
    const overview = await page().waitForSelector(`${$(ids.fleetOverview)}[data-state="ready"][data-total="4"]`);
    const online = ((await (await userCall('GET', '/devices?online=true&limit=1')).json()) as { total: number }).total;
    const open = ((await (await userCall('GET', '/alerts?state=open&limit=500')).json()) as { items: unknown[] }).items.length;
    assert.ok(online >= 1, 'the greenhouse sensor sent telemetry a moment ago');
    assert.ok(open >= 1, 'its humidity alert is still open (acknowledged is not cleared)');
    assert.is(await overview.getAttribute('data-online'), String(online));
    assert.is(await overview.getAttribute('data-offline'), String(4 - online));
    assert.is(await overview.getAttribute('data-open-alerts'), String(open));
    assert.match((await page().textContent($(ids.fleetOnline))) ?? '', new RegExp(`Online\\s*${online}`));
    const types = await page().$$eval(`[data-testid="${testIds.fleetType}"]`, (items) => items.map((item) => [item.getAttribute('data-type'), item.getAttribute('data-count')]));
    assert.equal(types, [['hygrometer', '2'], ['thermometer', '2']]);
    assert.match((await page().textContent($(ids.fleetLastData))) ?? '', /Last data\s*(now|\d+ seconds? ago)/);
    await keepScreenshot('desktop-devices');
    await page().click(`[data-testid="${testIds.deviceRow}"][data-device-id="${ctx.deviceId}"] [data-testid="${testIds.deviceLink}"]`);
    await page().waitForSelector(`${$(ids.historyChart)} .uplot`);
    await page().waitForSelector(`${$(ids.forecastCard)}:not([data-state="loading"])`);
    await keepScreenshot('desktop-device');
  });

  dashboard('at phone size (390 px) the device list shows Connection and Last seen within the screen, and nothing scrolls sideways', async () => {
    await page().setViewportSize(phone);
    try {
      await page().goto(`${ctx.platform!.url}/#/devices`);
      const row = `[data-testid="${testIds.deviceRow}"][data-device-id="${ctx.deviceId}"]`;
      await page().waitForSelector(row);
      for (const heading of ['Name', 'Connection', 'Last seen']) {
        const cell = await cellOf(row, heading);
        assert.ok(cell && cell.width > 0 && cell.height > 0 && cell.shown, `the ${heading} cell is laid out and shown: ${JSON.stringify(cell)}`);
        assert.ok(cell.left >= 0 && cell.right <= phone.width, `the ${heading} cell lies within the 390 px screen: ${JSON.stringify(cell)}`);
      }
      assert.match((await cellOf(row, 'Connection'))?.text ?? '', /Online|Offline/);
      assert.match((await cellOf(row, 'Last seen'))?.text ?? '', /ago|now|Never/);
      const overflow = await page().evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.is(overflow, 0, 'the page is no wider than the screen');
      await keepScreenshot('phone-devices');

      await page().click(`${row} [data-testid="${testIds.deviceLink}"]`);
      await page().waitForSelector(`${$(ids.historyChart)} .uplot`);
      await page().waitForSelector(`${$(ids.forecastCard)}:not([data-state="loading"])`);
      const chartBox = await boxOf(`${$(ids.historyChart)} .uplot`);
      assert.ok(chartBox.right <= phone.width, `the history charts fit the screen: ${JSON.stringify(chartBox)}`);
      const deviceOverflow = await page().evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.is(deviceOverflow, 0, 'the device page is no wider than the screen');
      await keepScreenshot('phone-device');
    } finally {
      await page().setViewportSize(desktop);
    }
  });

  dashboard('under its Content-Security-Policy a new visitor registers, signs in and gets the live device list, with no violation or console message', async () => {
    const context = await ctx.browser!.newContext({ viewport: desktop, locale: 'en-US' });
    try {
      // An init script runs before the page's own and is not subject to its CSP.
      await context.addInitScript(() => {
        const seen: string[] = [];
        (window as unknown as { cspViolations: string[] }).cspViolations = seen;
        document.addEventListener('securitypolicyviolation', (event) => seen.push(`${event.violatedDirective} ${event.blockedURI}`));
      });
      const fresh = await context.newPage();
      fresh.setDefaultTimeout(waitMs);
      const messages: string[] = [];
      fresh.on('console', (message) => messages.push(`${message.type()}: ${message.text()}`));
      fresh.on('pageerror', (error) => messages.push(`pageerror: ${error.message}`));
      // Nothing the page asks for is missing: the favicon is the data: URL in index.html, not a /favicon.ico 404.
      const failed: string[] = [];
      fresh.on('response', (answer) => {
        if (answer.status() >= 400) failed.push(`${answer.status()} ${answer.url()}`);
      });

      const response = await fresh.goto(`${ctx.platform!.url}/`);
      assert.match((await response?.allHeaders())?.['content-security-policy'] ?? '', /script-src 'self'/, 'the page is served with its CSP');
      const visitor = randomEmail('csp');
      await fresh.click($(ids.goRegister));
      await fresh.fill($(ids.registerEmail), visitor);
      await fresh.fill($(ids.registerPassword), goodPassword);
      await fresh.click($(ids.registerSubmit));
      await fresh.waitForSelector($(ids.authNotice));
      await fresh.fill($(ids.loginPassword), goodPassword);
      await fresh.click($(ids.loginSubmit));
      await fresh.waitForSelector($(ids.devicesEmpty));
      await fresh.waitForSelector(`${$(ids.connectionState)}[data-state="connected"]`);

      assert.equal(await fresh.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations), [], 'securitypolicyviolation events');
      assert.equal(messages, [], 'console messages');
      assert.equal(failed, [], 'failed requests');
      assert.match((await fresh.getAttribute('link[rel="icon"]', 'href')) ?? '', /^data:image\/svg\+xml,/);
    } finally {
      await context.close();
    }
  });

  dashboard('the page threw no errors', () => {
    assert.equal(ctx.pageErrors, []);
  });
}

dashboard.run();

/** The pure parts behind the pages, run in Node: no browser needed. */
const parts = suite('dashboard parts');

parts('a validator message becomes a sentence naming the field', () => {
  assert.is(plainFieldError('Type', 'Too small: expected string to have >=1 characters'), 'Type is required.');
  assert.is(plainFieldError('Name', 'Too big: expected string to have <=200 characters'), 'Name can be at most 200 characters.');
  assert.is(plainFieldError('Password', 'Too small: expected string to have >=12 characters'), 'Password needs at least 12 characters.');
  assert.is(plainFieldError('Value', 'Invalid input: expected number, received undefined'), 'Value is required.');
  assert.is(plainFieldError('For seconds', 'Too small: expected number to be >=1'), 'For seconds must be 1 or more.');
  assert.is(plainFieldError('When', 'Invalid option: expected one of "gt"|"lt"'), 'When must be one of gt, lt.');
  assert.is(plainFieldError('Interval', 'at most 1d'), 'Interval: at most 1d.', 'an unknown message keeps its words, after the field');
  assert.is(labelOfPath('body.forSeconds'), 'For seconds');
  assert.is(labelOfPath('body.tags.0'), 'Tags');
});

parts('a series keeps a gap as a null where points are much further apart than their step', () => {
  const minute = 60_000;
  const points = [0, 1, 2, 30, 31].map((m) => ({ ts: m * minute, value: m }));
  const bucketed = withGaps(points, minute);
  assert.equal(bucketed.xs, [0, 1, 2, 3, 30, 31].map((m) => m * minute));
  assert.equal(bucketed.ys, [0, 1, 2, null, 30, 31]);
  assert.is(bucketed.gaps, 1);
  // Raw points: the step is their usual spacing.
  assert.is(withGaps(points).gaps, 1);
  assert.is(withGaps([0, 1, 2, 3].map((m) => ({ ts: m * minute, value: m })), minute).gaps, 0, 'no gap where none is');
});

parts.run();
