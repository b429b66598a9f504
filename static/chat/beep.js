// A short tone for a new message (WebAudio: no sound file to fetch). Browsers allow audio
// only after a user gesture; before that it stays silent and the caller's badge still shows.
let context;

export function beep({ frequency, volume, seconds }) {
  try {
    context = context || new AudioContext();
    const osc = context.createOscillator(), gain = context.createGain();
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(volume, context.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, context.currentTime + seconds);
    osc.connect(gain).connect(context.destination);
    osc.start();
    osc.stop(context.currentTime + seconds);
  } catch { /* no audio yet */ }
}
