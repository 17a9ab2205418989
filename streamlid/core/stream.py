"""The sans-I/O streaming core: PCM chunks in, events out. No microphones, terminals or sockets here.

    stream = LanguageStream(classifier, sample_rate=44100, channels=2)
    for chunk in chunks:
        for event in stream.push(chunk):
            ...
    events = stream.close()   # ends with a `summary` event

Producers on another thread (an audio callback) call `write` only; the consumer calls `process`.
Servers that batch windows of many streams into one forward pass use `advance` and `complete` instead
of `process`, and call them again while `pending` (see `advance`).

Adaptive analysis: a window is due every `hop` seconds of speech, but while the decision is steady (held
with a confident smoothed probability, and the last two windows agreed with it) only one hop in
`steady_hop / hop` is analysed; the next new utterance, a drop in confidence or a window that disagrees
brings back every hop. The skipped windows are counted in the next `posteriors` event and the stats.

The speech check: with a model that has one (`speech_check`), a window the model finds to hold no speech
(noise, music, tones that passed the VAD) is no evidence for any language: its `posteriors` event says
`speech: false`, the smoothing skips it, and the decision's state becomes `silence`, as after a pause.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from .audio import SAMPLE_RATE, RecentAudio, Resampler, RingBuffer, to_float_mono
from .events import check_fields, probs_dict, rounded, top_list
from .languages import name
from .smoothing import SILENCE, SPEECH_CONFIDENT, SPEECH_UNCERTAIN, SPEECH_UNKNOWN, Decider, SmoothingOptions
from .vad import Run, VadGate, VadOptions


@dataclass(frozen=True)
class WindowSlot:
    """A window handed to the model: its events wait for the score (`complete`)."""

    t: float  # the stream time at its end
    length: float  # seconds
    skipped: int  # windows skipped just before it (adaptive analysis)
    new: float  # seconds of audio no earlier window held


@dataclass(frozen=True)
class Pause:
    """A long pause in speech: the next window may more easily start a new language (in order with the
    windows around it)."""


@dataclass(frozen=True)
class Silence:
    """The end of speech: the decision turns to silence, in order with the windows before it."""

    t: float


SUMMARY_SPEECH_SHARE = 0.5  # the share of what the VAD passed that must hold speech for the summary to name it


class Scorer(Protocol):
    """What a stream needs of a model (model.classifier.Classifier is one; so are the Ray client and test doubles)."""

    languages: list[str]

    def log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        """(n, languages) log-probabilities of 16 kHz windows, plus a column, p(none of them), when the
        scorer has `open_set = True`, and a last one, p(no speech), when it has `speech_check = True`."""
        ...


@dataclass(frozen=True)
class StreamOptions:
    window: float = 2.0  # longest analysis window, seconds of speech (benchmarks/results/sweep_v3b.json)
    min_window: float = 0.5  # the first window of an utterance once this much speech is in
    hop: float = 0.25  # a new window after this much new speech
    steady_hop: float = 1.0  # ... while the decision is steady (rounded to whole hops; <= hop: every hop)
    reset_after: float = 1.0  # a pause this long starts the next window afresh
    ring_seconds: float = 30.0  # audio the ring buffer holds before it overwrites the oldest
    level_interval: float = 0.0  # seconds between `level` events; 0 = none
    languages: tuple[str, ...] | None = None  # restrict decisions to these (renormalised)
    prefer: tuple[str, ...] = ()  # likely languages, not exclusive (smoothing's prefer_weight)
    # "none of the languages" as a decision (state speech-unknown): None = when the model has an open set
    # and `languages` does not restrict (a restriction is a forced choice unless this is True)
    unknown: bool | None = None
    no_speech: float = 0.5  # a window is not speech when the speech check's p(no speech) reaches this; 1: off
    vad: VadOptions = field(default_factory=VadOptions)
    smoothing: SmoothingOptions = field(default_factory=SmoothingOptions)

    def __post_init__(self) -> None:
        if not 0.1 <= self.min_window <= self.window:
            raise ValueError(f"need 0.1 <= min_window <= window, got {self.min_window} and {self.window}")
        if self.hop <= 0 or self.hop > self.window:
            raise ValueError(f"hop must be in (0, window], not {self.hop}")
        if not 0 <= self.steady_hop <= 30:
            raise ValueError(f"steady_hop must be from 0 to 30 s, not {self.steady_hop}")
        if self.window > 30:
            raise ValueError("window must be at most 30 s")
        if self.ring_seconds <= 0:
            raise ValueError("ring_seconds must be positive")
        if not 0 < self.no_speech <= 1:
            raise ValueError(f"no_speech must be in (0, 1], not {self.no_speech}")

    @property
    def steady_every(self) -> int:
        """While the decision is steady, one hop in this many is analysed (1: every hop)."""
        return max(1, round(self.steady_hop / self.hop))


@dataclass
class StreamStats:
    samples_in: int = 0  # at the input rate
    dropped_samples: int = 0  # at the input rate
    input_overflows: int = 0
    nonfinite_samples: int = 0
    clipped_samples: int = 0
    speech_seconds: float = 0.0
    windows: int = 0  # analysed
    skipped_windows: int = 0  # due, but skipped while the decision was steady
    nonspeech_windows: int = 0  # analysed, and found by the speech check to hold no speech
    nonspeech_seconds: float = 0.0  # the new audio of those windows: the VAD's speech that was not speech

    def to_dict(self) -> dict:
        return {k: rounded(v, 3) if isinstance(v, float) else v for k, v in self.__dict__.items()}


class LanguageStream:
    def __init__(
        self,
        classifier: Scorer | None,
        sample_rate: int = SAMPLE_RATE,
        channels: int = 1,
        options: StreamOptions | None = None,
        model_languages: list[str] | None = None,
        open_set: bool = False,
        speech_check: bool = False,
    ) -> None:
        """`model_languages`, `open_set` and `speech_check` describe the scores `complete` gets when there
        is no classifier (a server that batches the windows of many streams)."""
        self.classifier = classifier
        self.model_languages = list(classifier.languages if classifier else model_languages or [])
        self.model_open_set = bool(getattr(classifier, "open_set", False) if classifier else open_set)
        self.model_speech_check = bool(getattr(classifier, "speech_check", False) if classifier else speech_check)
        if not self.model_languages:
            raise ValueError("a LanguageStream needs a classifier or the model's languages")
        self.options = options or StreamOptions()
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        if not 1000 <= self.sample_rate <= 384000:
            raise ValueError(f"unsupported sample rate {sample_rate} Hz")
        if not 1 <= self.channels <= 64:
            raise ValueError(f"unsupported channel count {channels}")
        self.ring = RingBuffer(int(self.options.ring_seconds * self.sample_rate))
        self.resampler = Resampler(self.sample_rate)
        self.vad = VadGate(self.options.vad)
        self.stats = StreamStats()
        self.seq = 0
        self._samples = 0  # 16 kHz samples labelled by the VAD: the stream clock
        self._speech = RecentAudio(int(self.options.window * SAMPLE_RATE))  # recent speech: one window
        self._since_window = 0
        self._skipped = 0  # windows skipped since the last analysed one
        self._agreeing = 0  # windows in a row that agreed with a confident decision; 2: it is steady
        self._labelled: deque[Run] = deque()  # VAD runs not yet taken in
        self._speech_samples = 0
        self._flushed = False
        self._silence_run = 0
        self._in_speech = False
        self._level_next = 0.0
        self._level_peak = -120.0
        self._level_db = -120.0  # level of the last labelled frame
        self._reported_drops = 0
        self._reported_overflows = 0
        self._window_sum: np.ndarray | None = None  # summed log-probs, for the summary
        self._segments: list[dict] = []
        self._pending: list[dict | WindowSlot | Pause | Silence] = []  # what `complete` resolves, in order
        self._windows: list[np.ndarray] = []
        self.set_languages(self.options.languages)

    # -- configuration ---------------------------------------------------------------------------
    def set_languages(self, languages: list[str] | tuple[str, ...] | None) -> None:
        """Restrict (or with None, un-restrict) the decision to a subset; the smoothing starts afresh."""
        langs = list(languages) if languages else list(self.model_languages)
        position = {c: i for i, c in enumerate(self.model_languages)}
        unknown = [c for c in langs if c not in position]
        if unknown:
            raise ValueError(f"unknown language(s): {', '.join(unknown)}")
        self.languages = langs
        chosen = set(langs)
        self._index = np.array([position[c] for c in langs])
        self._excluded = np.array([i for i, c in enumerate(self.model_languages) if c not in chosen], dtype=int)
        restricted = len(langs) < len(self.model_languages)
        self._every_language = langs == self.model_languages
        unknown = self.options.unknown
        self.unknown = (
            (self.model_open_set and not restricted)
            if unknown is None
            else unknown and (self.model_open_set or restricted)
        )
        unknown_preferred = [c for c in self.options.prefer if c not in self.model_languages]
        if unknown_preferred:
            raise ValueError(f"unknown preferred language(s): {', '.join(unknown_preferred)}")
        self.decider = Decider(langs, self.options.smoothing, self.unknown, self.options.prefer)
        self._window_sum, self._window_count = None, 0

    def class_log_probs(self, model_log_probs: np.ndarray) -> np.ndarray:
        """A window's log-probabilities over the active languages (renormalised) and, when `unknown`, a
        last class: the model's own "none of its languages" plus every language left out by a restriction."""
        if self._every_language:  # the model's own classes: its languages, then (open set) the rest
            lp = model_log_probs[: len(self.languages) + self.unknown]
            return lp - np.logaddexp.reduce(lp)
        lp = model_log_probs[self._index]
        if self.unknown:
            rest = [model_log_probs[self._excluded]]
            if self.model_open_set:
                rest.append(model_log_probs[len(self.model_languages) :][:1])
            lp = np.append(lp, np.logaddexp.reduce(np.concatenate(rest)))
        return lp - np.logaddexp.reduce(lp)

    # -- input -----------------------------------------------------------------------------------
    def write(self, pcm: np.ndarray) -> None:
        """Copy PCM into the ring buffer. Safe to call from an audio callback: never blocks on the model."""
        x = np.asarray(pcm)
        if x.ndim == 1 and self.channels > 1:
            x = x.reshape(-1, self.channels)
        if x.ndim == 2 and x.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channel(s), got {x.shape[1]}")
        if x.dtype.kind == "f":
            finite = np.isfinite(x)
            if not finite.all():
                self.stats.nonfinite_samples += int(x.size - finite.sum())
        mono = to_float_mono(x)
        self.stats.clipped_samples += int(np.count_nonzero(np.abs(mono) >= 0.999))
        self.ring.write(mono)

    @property
    def samples_written(self) -> int:
        """Input samples (at the input rate, down-mixed) ever written; safe from any thread."""
        return self.ring.written

    def report_input_overflow(self) -> None:
        """The audio device said it lost input (called from the audio callback: only counts)."""
        self.stats.input_overflows += 1

    def push(self, pcm: np.ndarray) -> list[dict]:
        self.write(pcm)
        return self.process()

    def run(self, pcm: np.ndarray) -> list[dict]:
        """A whole recording, as fast as possible: every event, the summary last."""
        step = self.ring.capacity // 2  # chunks the ring buffer always holds whole
        events: list[dict] = []
        for i in range(0, len(pcm), step):
            events += self.push(pcm[i : i + step])
        return events + self.close()

    # -- processing ------------------------------------------------------------------------------
    def process(self) -> list[dict]:
        return self._drain(last=False)

    def close(self) -> list[dict]:
        """Flush what is buffered, analyse the last speech, and end with a `summary` event."""
        return self._drain(last=True) + [self._emit(self._summary())]

    def _drain(self, last: bool) -> list[dict]:
        events: list[dict] = []
        while True:
            windows = self.advance(last)
            events += self.complete(self.classifier.log_probs(windows) if windows else np.zeros((0, 0)))
            if not self.pending:
                return events

    @property
    def pending(self) -> bool:
        """Audio is labelled but not yet taken in: call `advance` (and `complete`) again."""
        return bool(self._labelled)

    def advance(self, last: bool = False) -> list[np.ndarray]:
        """Run the audio path up to the model; return the windows the model must score, in order. With
        adaptive analysis on, it stops after a window whose score decides whether the next one is due:
        then `pending` is true until the rest is taken in."""
        self.stats.samples_in = self.ring.written  # counted by the ring, under its lock, not in the callback
        self._check_drops()
        if not self._flushed:
            audio = self.ring.read()
            if audio.size or last:
                self._labelled.extend(self.vad.process(self.resampler(audio, last=last)))
            self._flushed = last
        adaptive = self.options.steady_every > 1
        # a window can be skipped only once two scored windows agree: until the queued ones could make
        # that so, the next is due whatever their scores, and more windows go to the model in one call
        while self._labelled and not (adaptive and self._windows and self._agreeing + len(self._windows) >= 2):
            rest = self._take(self._labelled.popleft())
            if rest:
                self._labelled.appendleft(rest)
        if last and not self._labelled:
            self._end_of_speech(final=True)
        return list(self._windows)  # kept until `complete`: an interrupted step loses no window

    def complete(self, log_probs: np.ndarray) -> list[dict]:
        """Turn the model's scores for `advance`'s windows into events (posteriors, decisions, changes)."""
        events: list[dict] = []
        k = 0
        for item in self._pending:
            match item:
                case WindowSlot():
                    events += self._window_events(item.t, item.length, item.skipped, item.new, log_probs[k])
                    k += 1
                case Pause():
                    self.decider.pause()
                case Silence():
                    if self.decider.decision.state != SILENCE:
                        self.decider.silence()
                        events.append(self._decision_event(item.t))
                case _:  # an event ready to go out (vad, dropped, ...)
                    events.append(self._emit(item))
        self._pending, self._windows = [], []
        return events

    # -- internals -------------------------------------------------------------------------------
    @property
    def t(self) -> float:
        return self._samples / SAMPLE_RATE

    def _emit(self, event: dict) -> dict:
        event = {"type": event["type"], "seq": self.seq} | event
        self.seq += 1
        return check_fields(event)

    def _check_drops(self) -> None:
        overflows = self.stats.input_overflows - self._reported_overflows
        if overflows:
            self._reported_overflows += overflows
            self._pending.append(
                {
                    "type": "dropped",
                    "t": rounded(self.t, 3),
                    "source": "input",
                    "overflows": overflows,
                    "total_overflows": self._reported_overflows,
                }
            )
        dropped = self.ring.dropped - self._reported_drops
        if dropped:
            self._reported_drops = self.ring.dropped
            self.stats.dropped_samples = self.ring.dropped
            self._pending.append(
                {
                    "type": "dropped",
                    "t": rounded(self.t, 3),
                    "source": "ring",
                    "samples": dropped,
                    "seconds": rounded(dropped / self.sample_rate, 3),
                    "total_seconds": rounded(self.ring.dropped / self.sample_rate, 3),
                }
            )

    def _take(self, run: Run) -> Run | None:
        """Take in the frames of `run` up to the first at which something happens (speech starts or ends,
        a window is due, a pause is long enough, a level event is due); return the rest of the run."""
        o = self.options
        n = len(run.levels)
        frame = run.audio.size // n
        k = n  # frames to take in now
        if o.level_interval > 0:
            k = min(k, frames_until(self._samples, self._level_next * SAMPLE_RATE, frame))
            # the event's own test, which rounding can make true a frame before the estimate
            while k > 1 and (self._samples + (k - 1) * frame) / SAMPLE_RATE >= self._level_next:
                k -= 1
        if run.speech != self._in_speech:
            k = 1
        elif run.speech:
            window = frames_until(self._speech.size, o.min_window * SAMPLE_RATE, frame)
            k = min(k, max(window, frames_until(self._since_window, o.hop * SAMPLE_RATE, frame)))
        elif self._speech.size:
            k = min(k, frames_until(self._silence_run, o.reset_after * SAMPLE_RATE, frame))
        audio, level = run.audio[: k * frame], float(run.levels[k - 1])
        self._samples += audio.size
        # the level of the frame being labelled: the VAD labels frames up to a chunk (plus onset) after it
        # measured them, so its latest measurement would make events depend on the chunk size
        self._level_db = level
        if o.level_interval > 0:
            self._level_peak = max(self._level_peak, float(run.levels[:k].max()))
            if self.t >= self._level_next:
                self._pending.append(
                    {
                        "type": "level",
                        "t": rounded(self.t, 3),
                        "level_db": rounded(self._level_peak, 1),
                        "speech": run.speech,
                    }
                )
                self._level_next, self._level_peak = self.t + o.level_interval, -120.0
        rest = Run(run.audio[k * frame :], run.speech, run.levels[k:]) if k < n else None
        if not run.speech:
            self._silence_run += audio.size
            if self._in_speech:
                self._end_of_speech()
            if self._silence_run >= o.reset_after * SAMPLE_RATE and self._speech.size:
                self._speech.clear()
                self._since_window = 0
                self._agreeing = 0
                self._pending.append(Pause())
            return rest
        if not self._in_speech:
            self._in_speech = True
            self._agreeing = 0  # a new utterance is analysed every hop until it agrees again
            self._pending.append(
                {
                    "type": "vad",
                    "t": rounded(self.t - audio.size / SAMPLE_RATE, 3),
                    "speech": True,
                    "level_db": rounded(self._level_db, 1),
                }
            )
        self._silence_run = 0
        self._speech_samples += audio.size
        self.stats.speech_seconds = self._speech_samples / SAMPLE_RATE
        self._speech.append(audio)
        self._since_window += audio.size
        if self._speech.size >= o.min_window * SAMPLE_RATE and self._since_window >= o.hop * SAMPLE_RATE:
            if self._agreeing >= 2 and self._skipped + 1 < o.steady_every:
                self._skipped += 1
                self.stats.skipped_windows += 1
                self._since_window = 0
            else:
                self._queue_window()
        return rest

    def _queue_window(self) -> None:
        self._windows.append(self._speech.view().copy())
        new = min(self._speech.size, self._since_window) / SAMPLE_RATE  # audio no earlier window held
        self._pending.append(WindowSlot(self.t, self._speech.size / SAMPLE_RATE, self._skipped, new))
        self._since_window = 0
        self._skipped = 0

    def _end_of_speech(self, final: bool = False) -> None:
        """Speech stopped: analyse what the last window missed, then mark the decision as silence."""
        if not self._in_speech:
            return
        self._in_speech = False
        # a final utterance shorter than min_window is still worth one look when nothing else was heard
        shortest = (
            min(self.options.min_window, 0.25)
            if final and not self.stats.windows and not self._windows
            else self.options.min_window
        )
        if self._since_window and self._speech.size >= shortest * SAMPLE_RATE:
            self._queue_window()
        self._pending.append(
            {"type": "vad", "t": rounded(self.t, 3), "speech": False, "level_db": rounded(self._level_db, 1)}
        )
        self._pending.append(Silence(rounded(self.t, 3)))

    def _window_events(
        self, t: float, length: float, skipped: int, new: float, model_log_probs: np.ndarray
    ) -> list[dict]:
        self.stats.windows += 1
        lp = self.class_log_probs(model_log_probs)
        no_speech = float(np.exp(model_log_probs[-1])) if self.model_speech_check else None
        if no_speech is not None and self.options.no_speech < 1 and no_speech >= self.options.no_speech:
            return self._nonspeech_events(t, length, skipped, new, lp, no_speech)
        self._window_sum = lp if self._window_sum is None else self._window_sum + lp
        self._window_count += 1
        before = self.decider.decision
        decision, changed = self.decider.update(lp, hops=skipped + 1)
        held = self.decider.held
        # a window that changed the decision disagreed with the one before: the new one is not steady yet
        agrees = (
            not changed
            and held is not None
            and int(lp.argmax()) == held
            and decision.confidence >= self.decider.needed(held)
        )
        self._agreeing = self._agreeing + 1 if agrees else 0
        events = [self._posteriors_event(t, length, skipped, lp, True, no_speech)]
        if self.decider.held is not None:
            self._extend_segments(t, length, decision.language)
        if changed:
            events.append(
                self._emit(
                    {
                        "type": "change",
                        "t": rounded(t, 3),
                        "from": before.language,
                        "to": decision.language,
                        "confidence": rounded(decision.confidence),
                    }
                )
            )
        if (before.language, before.state) != (decision.language, decision.state):
            events.append(self._decision_event(t))
        return events

    def _nonspeech_events(
        self, t: float, length: float, skipped: int, new: float, lp: np.ndarray, no_speech: float
    ) -> list[dict]:
        """A window that passed the VAD but holds no speech: no evidence for any class; the decision
        holds, in the state of silence."""
        self.stats.nonspeech_windows += 1
        self.stats.nonspeech_seconds += new
        self._agreeing = 0
        events = [self._posteriors_event(t, length, skipped, lp, False, no_speech)]
        if self.decider.decision.state != SILENCE:
            self.decider.silence()
            events.append(self._decision_event(t))
        return events

    def _posteriors_event(
        self, t: float, length: float, skipped: int, lp: np.ndarray, speech: bool, no_speech: float | None
    ) -> dict:
        n = len(self.languages)
        posteriors = {
            "type": "posteriors",
            "t": rounded(t, 3),
            "speech": speech,
            "window": rounded(length, 3),
            "skipped": skipped,
            "probs": probs_dict(self.languages, self.decider.probs[:n]),
            "window_probs": probs_dict(self.languages, np.exp(lp[:n])),
        }
        if self.unknown:
            posteriors.update(unknown=rounded(self.decider.probs[n]), window_unknown=rounded(np.exp(lp[n])))
        if no_speech is not None:
            posteriors["no_speech"] = rounded(no_speech)
        return self._emit(posteriors)

    def _decision_event(self, t: float) -> dict:
        d = self.decider.decision
        return self._emit(
            {
                "type": "decision",
                "t": rounded(t, 3),
                "language": d.language,
                "name": name(d.language),
                "confidence": rounded(d.confidence),
                "state": d.state,
            }
        )

    def _extend_segments(self, t: float, length: float, language: str | None) -> None:
        if self._segments and self._segments[-1]["language"] == language and t - self._segments[-1]["end"] <= 3.0:
            self._segments[-1]["end"] = rounded(t, 3)
        else:
            start = t - length
            if self._segments and start < self._segments[-1]["end"]:
                start = max(t - self.options.hop, self._segments[-1]["end"])
            self._segments.append({"start": rounded(max(0.0, start), 3), "end": rounded(t, 3), "language": language})

    def _summary(self) -> dict:
        self.stats.dropped_samples = self.ring.dropped
        out = {
            "type": "summary",
            "t": rounded(self.t, 3),
            "language": None,
            "name": None,
            "confidence": 0.0,
            "state": SILENCE,
            "top": [],
        }
        heard = self.stats.speech_seconds  # what the VAD passed; the speech check rejected a part of it
        # a few windows taken for speech among many found to hold none (babble, music) are the speech
        # check's misses, not speech (seconds, not windows: adaptive analysis skips steady speech's windows)
        held = heard - self.stats.nonspeech_seconds
        if self._window_sum is not None and held >= SUMMARY_SPEECH_SHARE * heard:
            # the mean, not the sum: overlapping windows share audio, so their evidence does not add up
            mean = self._window_sum / self._window_count
            p = np.exp(mean - np.logaddexp.reduce(mean))
            n = len(self.languages)
            # none of the languages when that is more likely than all of them together
            best = n if self.unknown and p[n] >= 0.5 else int(np.argmax(p[:n]))
            language = self.languages[best] if best < n else None
            out.update(
                language=language,
                name=name(language) if language else None,
                confidence=rounded(p[best]),
                state=SPEECH_UNKNOWN
                if language is None
                else SPEECH_CONFIDENT
                if p[best] >= self.options.smoothing.confident
                else SPEECH_UNCERTAIN,
                top=top_list(self.languages, p[:n], k=5),
            )
            if self.unknown:
                out["unknown"] = rounded(p[n])
        out.update(
            # what the VAD passed, less what the speech check found to be no speech
            speech_seconds=rounded(max(0.0, self.stats.speech_seconds - self.stats.nonspeech_seconds), 2),
            segments=self._segments,
            stats=self.stats.to_dict(),
        )
        return out


def frames_until(have: int, need: float, frame: int) -> int:
    """Frames of `frame` samples that take `have` samples to at least `need` (at least one)."""
    return max(1, math.ceil((need - have) / frame))


def replace_options(options: StreamOptions, **changes) -> StreamOptions:
    """StreamOptions with some fields changed; `vad_*` and smoothing fields are routed to their part."""
    vad = {k[4:]: v for k, v in changes.items() if k.startswith("vad_")}
    smooth = {k: changes.pop(k) for k in list(changes) if k in SmoothingOptions.__dataclass_fields__}
    top = {k: v for k, v in changes.items() if not k.startswith("vad_")}
    return replace(options, vad=replace(options.vad, **vad), smoothing=replace(options.smoothing, **smooth), **top)


__all__ = ["LanguageStream", "Scorer", "StreamOptions", "StreamStats", "SILENCE", "replace_options"]
