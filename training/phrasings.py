"""Question templates per StethoBench task (>= 8 each) and small word banks for answers.

Placeholders: ``{domain}`` (heart/lung), ``{site}`` (site title, e.g. "mitral area"), ``{site_b}``
(second recording, comparison only). Templates that name ``{site}`` are only used when the site
is known. The app's own preset questions (resources/prompts/tasks.json) are added at load time so
that training covers exactly what the app asks.
"""

from __future__ import annotations

import json

from stethodesk.paths import RESOURCES

QUESTIONS: dict[str, list[str]] = {
    "binary": [
        "Is this {domain} sound normal?",
        "Is this {domain} recording normal or abnormal?",
        "Normal or abnormal: what is your call on this {domain} sound?",
        "Would you classify this {domain} auscultation as normal?",
        "Does anything sound abnormal in this {domain} recording?",
        "Give a one-line verdict: is this {domain} sound normal or abnormal?",
        "Is this {domain} sound from the {site} normal?",
        "Screening question: normal or abnormal {domain} sounds?",
        "Tell me briefly whether this {domain} recording is normal.",
        "Is the {domain} sound recorded at the {site} abnormal?",
    ],
    "detection": [
        "Which abnormal sounds can you detect in this {domain} recording?",
        "List any adventitious or extra sounds in this {domain} recording.",
        "What events are present in this {domain} sound?",
        "Are there any murmurs, extra heart sounds, crackles or wheezes here?",
        "Detect the abnormal events in this {domain} auscultation.",
        "Which findings are present and which are absent in this {domain} sound?",
        "What do you hear at the {site}? List the abnormal sounds.",
        "Name the abnormal sounds, if any, in this {domain} recording.",
        "Check this {domain} recording for added sounds and list them.",
    ],
    "report": [
        "Write a structured auscultation report for this {domain} recording.",
        "Produce a short clinical report of this {domain} sound.",
        "Summarise this {domain} auscultation as a structured report.",
        "Document the findings of this {domain} recording from the {site}.",
        "Give me a brief report: site, findings and impression.",
        "Fill in an auscultation report for this {domain} sound.",
        "Write the findings of this {domain} recording as you would in the notes.",
        "Report this {domain} sound in a structured format.",
    ],
    "reasoning": [
        "What do you hear and what does it mean? Explain your reasoning.",
        "Explain the findings in this {domain} recording and your conclusion.",
        "Walk me through this {domain} sound: findings, reasoning, conclusion.",
        "Why would you call this {domain} recording normal or abnormal?",
        "Interpret this {domain} sound and justify your interpretation.",
        "Describe what you hear at the {site} and reason about its meaning.",
        "Explain step by step what this {domain} auscultation shows.",
        "What is the clinical reasoning behind your reading of this {domain} sound?",
    ],
    "differential": [
        "Give a ranked differential diagnosis for this {domain} sound.",
        "What conditions could cause these {domain} sounds? Most likely first.",
        "List the likely diagnoses for this {domain} recording in order.",
        "Which diagnoses fit this {domain} auscultation best?",
        "What is the differential for the sound at the {site}?",
        "Rank the possible causes of this {domain} sound.",
        "Based on this {domain} recording, what should be considered?",
        "Provide a short differential diagnosis for this {domain} sound.",
    ],
    "comparison": [
        "Compare recording A with recording B.",
        "How do the two {domain} recordings differ?",
        "What is different between the {site} and the {site_b} recordings?",
        "Compare these two {domain} sounds and state the differences.",
        "Are the two {domain} recordings alike? Compare their findings.",
        "Contrast the first and second {domain} recordings.",
        "Recording A is from the {site}, recording B from the {site_b}. Compare them.",
        "Which of the two {domain} recordings is abnormal, if any?",
    ],
    "location": [
        "What does the {site} listen to, and what does this recording show there?",
        "This was recorded at the {site}. What is typically heard here, and what is heard?",
        "Interpret this {domain} sound in the context of the {site}.",
        "Explain the significance of the {site} and the findings in this recording.",
        "What is expected at the {site}, and is this recording consistent with it?",
        "Site-specific analysis: {site}.",
        "Why listen at the {site}, and what did this recording find?",
        "Describe the {site} and the sounds recorded there.",
    ],
}


def load_questions() -> dict[str, list[str]]:
    """QUESTIONS plus the app's preset instructions from resources/prompts/tasks.json."""
    out = {t: list(q) for t, q in QUESTIONS.items()}
    path = RESOURCES / "prompts" / "tasks.json"
    if path.exists():
        tasks = json.loads(path.read_text()).get("tasks", {})
        for t, spec in tasks.items():
            for q in spec.get("instructions", []):
                if t in out and q not in out[t]:
                    out[t].append(q)
    return out


# Answer word banks (all wordings must stay parseable by training.checker).
VERDICT = {True: ["Abnormal", "Abnormal", "Not normal"], False: ["Normal", "Normal", "Normal"]}
PRESENT_VERBS = ["is heard", "is present", "is detected"]
PRESENT_VERBS_PL = ["are heard", "are present", "are detected"]
UNKNOWN = ["cannot be determined from this recording", "cannot be determined from this recording"]
SUMMARY_LEAD = ["Overall,", "In short,", "Overall:"]
# The checker reads findings only after one of these markers when an answer has one (the text
# before it is general site knowledge).
RECORDING_MARKERS = ["In this recording:", "Findings in this recording:", "In this recording,"]
