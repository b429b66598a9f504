// Read receipts on the agents' replies (已读/未读). The server renders each mark with the
// customer's read position of that moment (_message.html); live `read` events and the
// `peer_read_seq` of resume answers (the layer may drop events) move it forward here.
let readSeq = 0; // the furthest the open conversation's customer has read

export function resetReceipts() {
  readSeq = 0;
}

// Marks up to `seq` read in `messagesEl`; with no seq, re-applies the furthest known (after a
// fetch rendered by a server that had not yet stored the latest read).
export function applyReceipts(messagesEl, texts, seq = 0) {
  readSeq = Math.max(readSeq, Number(seq) || 0);
  for (const mark of messagesEl?.querySelectorAll('.msg__receipt[data-receipt="unread"]') || []) {
    if (Number(mark.closest("[data-seq]")?.dataset.seq) <= readSeq) {
      mark.dataset.receipt = "read";
      mark.textContent = texts.read;
    }
  }
}
