"""Dashboard entry point: ``streamlit run`` this file (``loan-recovery dashboard`` does).

One navigation, six pages; each page is a script under ``pages/``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="loan-recovery", page_icon=":material/savings:", layout="wide")
navigation = st.navigation(
    [
        st.Page(
            PAGES / "assess.py",
            title="Assess a borrower",
            icon=":material/person_search:",
            default=True,
        ),
        st.Page(PAGES / "portfolio.py", title="Portfolio", icon=":material/donut_large:"),
        st.Page(PAGES / "worklist.py", title="Worklist", icon=":material/checklist:"),
        st.Page(PAGES / "alerts.py", title="Alerts", icon=":material/notifications_active:"),
        st.Page(PAGES / "performance.py", title="Model performance", icon=":material/insights:"),
        st.Page(PAGES / "strategy_lab.py", title="Strategy lab", icon=":material/science:"),
    ]
)
navigation.run()
