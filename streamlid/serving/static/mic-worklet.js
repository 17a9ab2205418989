// The page's microphone capture: hands each block of the first input channel to the page, which batches
// them into PCM messages for /audio (float32 at the AudioContext's own rate; the server resamples).
class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor("streamlid-capture", Capture);
