"""谈心谈话 and 走访: dialogs, one-line talks, dates, edits, photos, privacy, reminders, 抽查回访."""
