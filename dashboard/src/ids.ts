/**
 * Stable hooks into the page for tests and tooling: element ids for the one-of-a-kind elements, and
 * `data-testid` values (with a `data-device-id` or `data-key` beside them) for the repeated ones. Views
 * take every id from here and the browser test imports the same object, so renaming one renames both.
 * Plain constants, no DOM: Node code can import this file.
 *
 * State the test can wait on, set as data attributes:
 * - `#connection-state[data-state]`  `connecting` | `connected` | `disconnected` (the Socket.IO link)
 * - `#device-view[data-live]`        `on` once the relay accepted this device's subscription, else `off`
 * - `#live-chart[data-points]`       how many live telemetry messages with numbers the chart has drawn
 * - `[data-chart-key=<key>]`          one key's chart inside `#live-chart` and `#history-chart` (time-chart.ts), with
 *                                     `data-gaps` (nulls put in where data is missing), `data-points`, `data-y-min`/`-max`
 * - `#forecast-card[data-state]`    `loading` | `ready` | `empty` (not enough history yet) | `error` | `idle` (no numeric key yet)
 * - `[data-testid=online-badge][data-online]`  `true` | `false`
 *
 * Field errors of a form sit in `#<input id>-error`, e.g. `#register-password-error`.
 */
export const ids = {
  // the shell (index.html)
  header: 'app-header',
  navDevices: 'nav-devices',
  connectionState: 'connection-state',
  userEmail: 'user-email',
  logoutButton: 'logout-button',
  view: 'view',
  toast: 'toast',

  // sign in and register
  loginForm: 'login-form',
  loginEmail: 'login-email',
  loginPassword: 'login-password',
  loginSubmit: 'login-submit',
  loginError: 'login-error',
  authNotice: 'auth-notice',
  goRegister: 'go-register',
  registerForm: 'register-form',
  registerEmail: 'register-email',
  registerPassword: 'register-password',
  registerName: 'register-name',
  registerSubmit: 'register-submit',
  registerError: 'register-error',
  goLogin: 'go-login',

  // the device list
  devicesView: 'devices-view',
  deviceSearch: 'device-search',
  addDeviceButton: 'add-device-button',
  deviceList: 'device-list',
  devicesCount: 'devices-count',
  devicesEmpty: 'devices-empty',
  devicesError: 'devices-error',

  // the fleet overview above the device list (fleet-overview.ts); its figures are also data attributes:
  // #fleet-overview[data-state=loading|ready|error][data-total][data-online][data-offline][data-open-alerts]
  fleetOverview: 'fleet-overview',
  fleetTotal: 'fleet-total',
  fleetOnline: 'fleet-online',
  fleetOffline: 'fleet-offline',
  fleetOpenAlerts: 'fleet-open-alerts',
  fleetByType: 'fleet-by-type',
  fleetLastData: 'fleet-last-data',

  // the add / edit dialog
  deviceDialog: 'device-dialog',
  deviceForm: 'device-form',
  deviceFormName: 'device-form-name',
  deviceFormType: 'device-form-type',
  deviceFormTags: 'device-form-tags',
  deviceFormStatus: 'device-form-status',
  deviceFormSubmit: 'device-form-submit',
  deviceFormCancel: 'device-form-cancel',
  deviceFormError: 'device-form-error',

  // the token, shown once
  tokenDialog: 'token-dialog',
  deviceToken: 'device-token',
  copyToken: 'copy-token',
  tokenCurl: 'token-curl',
  copyCurl: 'copy-curl',
  tokenDialogClose: 'token-dialog-close',

  // confirmation (delete, rotate)
  confirmDialog: 'confirm-dialog',
  confirmOk: 'confirm-ok',
  confirmCancel: 'confirm-cancel',

  // one device
  deviceView: 'device-view',
  deviceTitle: 'device-title',
  deviceDetails: 'device-details',
  deviceError: 'device-error',
  backToDevices: 'back-to-devices',
  editDeviceButton: 'edit-device-button',
  rotateTokenButton: 'rotate-token-button',
  deleteDeviceButton: 'delete-device-button',
  latestTable: 'latest-table',
  latestEmpty: 'latest-empty',
  latestError: 'latest-error',
  liveChart: 'live-chart',
  liveEmpty: 'live-empty',
  historyRange: 'history-range',
  historyInterval: 'history-interval',
  historyAgg: 'history-agg',
  historyRefresh: 'history-refresh',
  historyChart: 'history-chart',
  historyEmpty: 'history-empty',
  historyError: 'history-error',
  forecastCard: 'forecast-card',
  forecastKey: 'forecast-key',
  forecastHorizon: 'forecast-horizon',
  forecastInterval: 'forecast-interval',
  forecastChart: 'forecast-chart',
  forecastModel: 'forecast-model',
  forecastEmpty: 'forecast-empty',
  forecastError: 'forecast-error',
  forecastNotes: 'forecast-notes',
  alertsList: 'alerts-list',
  alertsEmpty: 'alerts-empty',
  alertsError: 'alerts-error',
  ruleForm: 'rule-form',
  ruleKey: 'rule-key',
  ruleOp: 'rule-op',
  ruleValue: 'rule-value',
  ruleLow: 'rule-low',
  ruleHigh: 'rule-high',
  ruleForSeconds: 'rule-for-seconds',
  ruleSubmit: 'rule-submit',
  ruleError: 'rule-error',
} as const;

export const testIds = {
  /** A row of the device list; `data-device-id` names the device. */
  deviceRow: 'device-row',
  /** The link to a device's page, in its row. */
  deviceLink: 'device-link',
  /** Online / offline; `data-online` is `true` or `false`. In list rows and on the device page. */
  onlineBadge: 'online-badge',
  /** A row of the latest values; `data-key` names the telemetry key. */
  latestRow: 'latest-row',
  /** The value cell of that row, with the same `data-key`. */
  latestValue: 'latest-value',
  /** A row of the Alerts card; `data-alert-id` names the alert, `data-state` is `open` or `cleared`. */
  alertRow: 'alert-row',
  /** The Acknowledge button of that row. */
  alertAck: 'alert-ack',
  /** A type in the fleet overview; `data-type` names it, `data-count` how many devices have it. */
  fleetType: 'fleet-type',
} as const;

/** The device page's Configuration card (config-card.ts). */
export const configIds = {
  card: 'config-card',
  syncBadge: 'config-sync',
  editor: 'config-editor',
  editorMessage: 'config-editor-message',
  desiredMeta: 'config-desired-meta',
  save: 'config-save',
  revert: 'config-revert',
  saveError: 'config-save-error',
  reported: 'config-reported',
  loadError: 'config-load-error',
} as const;

/**
 * The device page's Commands card (commands-card.ts); a row is
 * `[data-testid=command-row][data-command-id][data-status]`.
 */
export const commandIds = {
  card: 'commands-card',
  form: 'command-form',
  name: 'command-name',
  params: 'command-params',
  timeout: 'command-timeout',
  submit: 'command-submit',
  formError: 'command-error',
  list: 'commands-list',
  empty: 'commands-empty',
  more: 'commands-more',
  loadError: 'commands-load-error',
  /** `data-testid` of a row, and of the status badge in it. */
  row: 'command-row',
  status: 'command-status',
} as const;
