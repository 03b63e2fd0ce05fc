/**
 * What a simulated sensor reads: pure functions of (seed, device index, time), so a run is repeatable and
 * tests can check the series without running a fleet.
 *
 * - temperature (°C): a daily cycle peaking mid-afternoon around a per-device base, Gaussian noise, and
 *   now and then a spike (a sensor glitch of ±8–15 °C);
 * - humidity (%): the cycle mirrored (air is driest when warmest), noise, clamped to 0–100;
 * - battery (%): starts somewhere between 60 and 100 and drains steadily; it never rises and stops at 0;
 * - counter: a per-device event count that only goes up;
 * - dropouts: whole windows of time in which the device sends nothing (`readingAt` returns null).
 *
 * Time is the simulated milliseconds since the run began; `startTimeOfDayMs` places that start on the
 * clock, so the daily cycle follows the real day when the fleet passes the current time of day.
 *
 *   readingAt(42, 0, 60_000) // { temperature: 19.05, humidity: 74.6, battery: 61.38, counter: 146 }
 */
import { gaussian, hashSeed, mulberry32, uniform } from './prng.ts';

export interface Reading {
  temperature: number;
  humidity: number;
  battery: number;
  counter: number;
}

/** The fixed traits of one simulated device, drawn once from (seed, index). */
export interface DeviceProfile {
  baseTemperature: number;
  temperatureAmplitude: number;
  baseHumidity: number;
  humidityAmplitude: number;
  batteryAtStart: number;
  batteryDrainPerHour: number;
  countsPerSecond: number;
}

export interface SignalOptions {
  /** Where on the clock (ms after midnight) the run's time 0 falls. */
  startTimeOfDayMs?: number;
  /** Chance that one reading carries a temperature spike. */
  spikeProbability?: number;
  /** Chance that a device is silent for a whole dropout window. */
  dropoutProbability?: number;
  /** Length of one dropout window. */
  dropoutWindowMs?: number;
}

export const signalDefaults = {
  startTimeOfDayMs: 0,
  spikeProbability: 0.01,
  dropoutProbability: 0.02,
  dropoutWindowMs: 10_000,
} as const satisfies Required<SignalOptions>;

/** Separate draws for separate purposes, so the spike decision is not correlated with the noise. */
const channels = { profile: 1, temperatureNoise: 2, humidityNoise: 3, spike: 4, spikeSize: 5, dropout: 6 } as const;

const dayMs = 86_400_000;
const hourMs = 3_600_000;
/** The warmest hour of the day. */
const peakHour = 15;

const between = (low: number, high: number, u: number) => low + (high - low) * u;
const round = (value: number, decimals: number) => Math.round(value * 10 ** decimals) / 10 ** decimals;

export function profileOf(seed: number, index: number): DeviceProfile {
  const next = mulberry32(hashSeed(seed, index, channels.profile));
  return {
    baseTemperature: between(16, 26, next()),
    temperatureAmplitude: between(2, 6, next()),
    baseHumidity: between(35, 65, next()),
    humidityAmplitude: between(5, 15, next()),
    batteryAtStart: between(60, 100, next()),
    batteryDrainPerHour: between(2, 6, next()),
    countsPerSecond: between(0.5, 5, next()),
  };
}

/** True when the device is silent at this time (it sends nothing for the whole window). */
export function isDropout(seed: number, index: number, elapsedMs: number, options: SignalOptions = {}): boolean {
  const { dropoutProbability, dropoutWindowMs } = { ...signalDefaults, ...options };
  return uniform(seed, index, Math.floor(elapsedMs / dropoutWindowMs), channels.dropout) < dropoutProbability;
}

/** The device's reading at `elapsedMs` into the run, or null during a dropout. */
export function readingAt(seed: number, index: number, elapsedMs: number, options: SignalOptions = {}): Reading | null {
  const settings = { ...signalDefaults, ...options };
  if (isDropout(seed, index, elapsedMs, settings)) return null;
  const profile = profileOf(seed, index);
  const t = Math.floor(elapsedMs);

  const hourOfDay = (((settings.startTimeOfDayMs + t) % dayMs) + dayMs) % dayMs / hourMs;
  const cycle = Math.cos((2 * Math.PI * (hourOfDay - peakHour)) / 24);

  let temperature = profile.baseTemperature + profile.temperatureAmplitude * cycle + 0.3 * gaussian(seed, index, t, channels.temperatureNoise);
  if (uniform(seed, index, t, channels.spike) < settings.spikeProbability) {
    const size = between(8, 15, uniform(seed, index, t, channels.spikeSize));
    temperature += uniform(seed, index, t, channels.spikeSize, 1) < 0.5 ? -size : size;
  }
  const humidity = profile.baseHumidity - profile.humidityAmplitude * cycle + 1.5 * gaussian(seed, index, t, channels.humidityNoise);
  // Rounding a non-increasing function keeps it non-increasing, so the battery still never rises.
  const battery = Math.max(0, profile.batteryAtStart - (profile.batteryDrainPerHour * t) / hourMs);

  return {
    temperature: round(temperature, 2),
    humidity: round(Math.min(100, Math.max(0, humidity)), 1),
    battery: round(battery, 2),
    counter: Math.floor((profile.countsPerSecond * t) / 1000),
  };
}
