/**
 * The dashboard in a real headless Chromium against the whole platform (PostgreSQL, Redis, RabbitMQ and
 * the Socket.IO relay): register and sign in through the page, add a device and read its token from the
 * once-only dialog, open it, send telemetry as the device, and see the value arrive live; then its forecast,
 * alerts, configuration and commands, with the device answering over HTTP.
 * Screenshots in test-output/dashboard.png, dashboard-forecast.png and dashboard-config-commands.png.
 *
 * The steps share one page and run in order. Every wait is bounded (uvu has no timeouts).
 */
import { mkdir } from 'node:fs/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { goodPassword, randomEmail, startPlatform, type TestPlatform } from './support/platform.ts';
import { chromiumMissing, launchChromium, within } from './support/browser.ts';
import { commandIds, configIds, ids, testIds } from '../dashboard/src/ids.ts';

const waitMs = 15_000;
const ctx: { platform?: TestPlatform; browser?: Browser; page?: Page; token?: string; deviceId?: string; pageErrors: string[] } = { pageErrors: [] };
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
    const context = await ctx.browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', colorScheme: 'light' });
    ctx.page = await context.newPage();
    ctx.page.setDefaultTimeout(waitMs);
    ctx.page.setDefaultNavigationTimeout(waitMs);
    ctx.page.on('pageerror', (error) => ctx.pageErrors.push(error.message));
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

  dashboard('the Forecast card shows a forecast of the one point, or says why there is none', async () => {
    await page().waitForSelector($(ids.forecastCard));
    assert.is(await page().inputValue($(ids.forecastKey)), 'temperature', 'the key picker starts on temperature');
    const card = await page().waitForSelector(`${$(ids.forecastCard)}:is([data-state="ready"], [data-state="empty"])`);
    if ((await card.getAttribute('data-state')) === 'ready') {
      await page().waitForSelector(`${$(ids.forecastChart)} canvas`);
      assert.match((await page().textContent($(ids.forecastModel))) ?? '', /Model \S+/);
    } else {
      const detail = (await page().textContent(`${$(ids.forecastEmpty)} .muted`))?.trim() ?? '';
      assert.ok(detail.length > 0, 'the empty state carries the problem detail');
    }
    assert.not.ok(await page().$($(ids.forecastError)), 'no error shown');
    assert.equal(ctx.pageErrors, []);
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

  dashboard('under its Content-Security-Policy a new visitor registers, signs in and gets the live device list, with no violation or console message', async () => {
    const context = await ctx.browser!.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
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
    } finally {
      await context.close();
    }
  });

  dashboard('the page threw no errors', () => {
    assert.equal(ctx.pageErrors, []);
  });
}

dashboard.run();
