"""Version comparison text cache, signature checks, indicators

Revision ID: 0010_issue17b
Revises: 0010_issue12b
Create Date: 2026-12-02 01:15:51.914708

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_issue17b'
down_revision = '0010_issue12b'
branch_labels = None
depends_on = None


def upgrade():

    op.create_table('document_texts',
    sa.Column('stored_file_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('extractor', sa.Integer(), nullable=False),
    sa.Column('paragraphs', sa.JSON(), nullable=False),
    sa.Column('extracted_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('ok','truncated','no_text','unreadable','too_large','unsupported')", name=op.f('ck_document_texts_status_known')),
    sa.ForeignKeyConstraint(['stored_file_id'], ['stored_files.id'], name=op.f('fk_document_texts_stored_file_id_stored_files'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('stored_file_id', name=op.f('pk_document_texts'))
    )
    op.create_table('indicators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deliverable_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name_ar', sa.String(length=200), nullable=True),
    sa.Column('name_fr', sa.String(length=200), nullable=True),
    sa.Column('name_en', sa.String(length=200), nullable=True),
    sa.Column('unit', sa.String(length=40), nullable=True),
    sa.Column('baseline', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('target', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('target_scope', sa.String(length=8), nullable=False),
    sa.Column('is_illustrative', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("target_scope IN ('term','period')", name=op.f('ck_indicators_target_scope_known')),
    sa.CheckConstraint('baseline >= 0', name=op.f('ck_indicators_baseline_not_negative')),
    sa.CheckConstraint('target >= 0', name=op.f('ck_indicators_target_not_negative')),
    sa.ForeignKeyConstraint(['deliverable_id'], ['deliverables.id'], name=op.f('fk_indicators_deliverable_id_deliverables'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicators')),
    sa.UniqueConstraint('deliverable_id', 'position', name=op.f('uq_indicators_deliverable_id_position'))
    )
    with op.batch_alter_table('indicators', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_indicators_deliverable_id'), ['deliverable_id'], unique=False)

    op.create_table('signature_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('signatures', sa.JSON(), nullable=False),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.Column('checked_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('none','valid','untrusted','invalid','unreadable')", name=op.f('ck_signature_checks_status_known')),
    sa.ForeignKeyConstraint(['checked_by_id'], ['users.id'], name=op.f('fk_signature_checks_checked_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['document_id'], ['agreement_documents.id'], name=op.f('fk_signature_checks_document_id_agreement_documents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signature_checks')),
    sa.UniqueConstraint('document_id', name=op.f('uq_signature_checks_document_id'))
    )
    op.create_table('indicator_values',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('indicator_id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.CheckConstraint('value >= 0', name=op.f('ck_indicator_values_value_not_negative')),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicators.id'], name=op.f('fk_indicator_values_indicator_id_indicators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submission_id'], ['deliverable_submissions.id'], name=op.f('fk_indicator_values_submission_id_deliverable_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_values')),
    sa.UniqueConstraint('indicator_id', 'submission_id', name=op.f('uq_indicator_values_indicator_id_submission_id'))
    )
    with op.batch_alter_table('indicator_values', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_indicator_values_indicator_id'), ['indicator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_indicator_values_submission_id'), ['submission_id'], unique=False)




def downgrade():

    with op.batch_alter_table('indicator_values', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_indicator_values_submission_id'))
        batch_op.drop_index(batch_op.f('ix_indicator_values_indicator_id'))

    op.drop_table('indicator_values')
    op.drop_table('signature_checks')
    with op.batch_alter_table('indicators', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_indicators_deliverable_id'))

    op.drop_table('indicators')
    op.drop_table('document_texts')

